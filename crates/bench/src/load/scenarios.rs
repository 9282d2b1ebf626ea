//! The load scenarios of issue #7 and their side-by-side baseline runs.

use super::idle::{create_channels, settled_rss, settled_rss_of};
use super::nchan::{self, Nchan};
use super::{rss_kib, Worker};
use crate::server::ServerChild;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    #[arg(long, default_value_t = 3)]
    pub(super) runs: usize,
    /// Load-generator processes, each from its own 127.x.y.1 addresses.
    #[arg(long, default_value_t = 4)]
    pub(super) workers: usize,
    /// Skip the nchan baseline.
    #[arg(long)]
    no_nchan: bool,
}

#[derive(Subcommand, Debug)]
pub enum LoadScenario {
    /// N idle authenticated sockets on N jobs: server memory per socket.
    Idle {
        #[arg(long, default_value_t = 19_000)]
        sockets: usize,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// J jobs with one viewer each, each publishing RATE events/s:
    /// delivered events/s and publish-to-receive latency.
    Live {
        #[arg(long, default_value_t = 10_000)]
        jobs: usize,
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Jobs (channels) of the side-by-side run with nchan, whose
        /// publishes are HTTP requests from the load generator.
        #[arg(long, default_value_t = 1000)]
        nchan_jobs: usize,
        /// Run nchan's jobs and as many of ours at the same time, each
        /// with its own load-generator processes, and measure both over the
        /// same window: on a shared machine whose noise changes from one
        /// run to the next, only then do both see the same machine.
        #[arg(long)]
        together: bool,
        /// After each run of ours at `--jobs`, the same load from a sender
        /// that does nothing but write the events: this machine's ceiling.
        #[arg(long)]
        floor: bool,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Drop every viewer at once; each reconnects with its lastSeq.
    Reconnect {
        #[arg(long, default_value_t = 10_000)]
        viewers: usize,
        /// Events per second per job: low enough that the jobs' live load
        /// alone stays well within what the machine delivers.
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// J external jobs with one viewer each, their publishers POSTing RATE
    /// events/s each (docs/PROTOCOL.md §21), beside the same load from
    /// internal synthetic jobs and nchan's HTTP publisher.
    Published {
        #[arg(long, default_value_t = 1000)]
        jobs: usize,
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Bytes on the wire and server CPU per delivered event for plain JSON,
    /// permessage-deflate, MessagePack and both, taking turns: an import
    /// followed by V viewers, and synthetic jobs with many viewers each.
    Encodings(super::encodings::EncodingsArgs),
    /// State writes per progress update under the throttle, and write cost.
    Persist {
        #[arg(long, default_value_t = 1000)]
        jobs: usize,
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[command(flatten)]
        load: LoadArgs,
    },
}

/// A target with its viewers attached.
pub(super) struct Attached {
    workers: Vec<Worker>,
    target: Target,
    _dir: tempfile::TempDir,
}

pub(super) enum Target {
    Ours(ServerChild),
    Nchan(Nchan),
    Floor(ServerChild),
}

pub(super) fn addr_of(url: &str) -> Result<SocketAddr> {
    Ok(url.trim_start_matches("http://").parse()?)
}

pub(super) async fn start_ours(dir: &std::path::Path, extra: &[&str]) -> Result<ServerChild> {
    // Every viewer comes from this one machine: the socket limits must
    // not be what a load test measures.
    let mut args = vec![
        "--enable-synthetic-jobs",
        "--max-running-jobs",
        "1000000",
        "--max-sockets",
        "1000000",
        "--max-sockets-per-client",
        "1000000",
    ];
    args.extend_from_slice(extra);
    ServerChild::start_with(&dir.join("data"), &args)
}

/// Starts `n` synthetic jobs; returns their viewer URLs.
async fn synthetic_jobs(url: &str, n: usize, steps: u64, interval_ms: u64) -> Result<Vec<String>> {
    let http = super::http();
    let mut urls = Vec::with_capacity(n);
    let ws = url.replace("http://", "ws://");
    while urls.len() < n {
        let count = (n - urls.len())
            .min(bookstrack_server::http::synthetic::MAX_SYNTHETIC_JOBS_PER_REQUEST);
        let body: Value = http
            .post(format!("{url}/api/synthetic/jobs"))
            .json(
                &json!({"count": count, "steps": steps, "intervalMs": interval_ms,
                    "stamp": true, "spread": true}),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for j in body["data"]["jobs"]
            .as_array()
            .context("no jobs in the answer")?
        {
            urls.push(format!(
                "{ws}/ws/progress?jobId={}&token={}&lastSeq={{seq}}",
                j["jobId"].as_str().unwrap_or_default(),
                j["token"].as_str().unwrap_or_default()
            ));
        }
    }
    Ok(urls)
}

/// Spreads viewers over `workers` processes and waits until all are connected.
/// nchan's publishers run in processes of their own, started once every
/// viewer is in: BooksTrack's events come from the server, and a viewer
/// process that also published would be awake, its CPU warm, whenever a
/// frame arrived, which would flatter nchan's latency.
pub(super) async fn attach(
    target: Target,
    addr: SocketAddr,
    urls: Vec<String>,
    publish: Option<(Vec<String>, f64)>,
    workers: usize,
    dir: tempfile::TempDir,
) -> Result<Attached> {
    let per = urls.len().div_ceil(workers.max(1)).max(1);
    let ready = match target {
        Target::Ours(_) => vec!["--ready".to_string()],
        Target::Nchan(_) | Target::Floor(_) => Vec::new(),
    };
    let mut started = Vec::new();
    for (i, chunk) in urls.chunks(per).enumerate() {
        started.push(Worker::start(addr, i, chunk, dir.path(), &ready).await?);
    }
    hello(&mut started).await?;
    if let Some((paths, rate)) = publish {
        let first = started.len();
        let mut publishers = Vec::new();
        for (i, chunk) in paths.chunks(per).enumerate() {
            let file = dir.path().join(format!("publish-{i}"));
            std::fs::write(&file, chunk.join("\n"))?;
            let extra = [
                "--publish".into(),
                file.display().to_string(),
                "--rate".into(),
                rate.to_string(),
            ];
            publishers.push(Worker::start(addr, first + i, &[], dir.path(), &extra).await?);
        }
        hello(&mut publishers).await?;
        started.extend(publishers);
    }
    Ok(Attached {
        workers: started,
        target,
        _dir: dir,
    })
}

async fn hello(workers: &mut [Worker]) -> Result<()> {
    for w in workers {
        let hello = w.read().await?;
        if hello.get("connected").is_none() {
            bail!("a worker said {hello}");
        }
    }
    Ok(())
}

impl Attached {
    pub(super) fn url(&self) -> Option<&str> {
        match &self.target {
            Target::Ours(s) => Some(&s.url),
            Target::Nchan(_) | Target::Floor(_) => None,
        }
    }

    pub(super) async fn ours(
        n: usize,
        steps: u64,
        interval_ms: u64,
        workers: usize,
        server_args: &[&str],
    ) -> Result<(Attached, u64)> {
        let dir = tempfile::tempdir()?;
        let server = start_ours(dir.path(), server_args).await?;
        let addr = addr_of(&server.url)?;
        let urls = synthetic_jobs(&server.url, n, steps, interval_ms).await?;
        let before = settled_rss(server.pid()).await;
        let a = attach(Target::Ours(server), addr, urls, None, workers, dir).await?;
        Ok((a, before))
    }

    /// With `rate` the channels get a stream of messages; without, each
    /// is made beforehand with one message, so that, as for our sockets
    /// on jobs that exist, the memory measured before the subscribers
    /// attach holds the channels and the difference is the subscribers'.
    pub(super) async fn nchan(
        n: usize,
        rate: Option<f64>,
        workers: usize,
    ) -> Result<(Attached, u64)> {
        let dir = tempfile::tempdir()?;
        let ng = Nchan::start()?;
        let addr = ng.addr;
        if rate.is_none() {
            create_channels(addr, n).await?;
        }
        let before = settled_rss_of(&ng.pids()).await;
        let urls = (0..n).map(|i| format!("ws://{addr}/sub/ch{i}")).collect();
        let publish = rate.map(|r| ((0..n).map(|i| format!("/pub/ch{i}")).collect(), r));
        let a = attach(Target::Nchan(ng), addr, urls, publish, workers, dir).await?;
        Ok((a, before))
    }

    /// `n` viewers of the floor (see `floor.rs`), each sent `rate` events/s.
    pub(super) async fn floor(n: usize, rate: f64, workers: usize) -> Result<Attached> {
        let dir = tempfile::tempdir()?;
        let (viewers, rate) = (n.to_string(), rate.to_string());
        let floor = ServerChild::internal(&["floor", "--viewers", &viewers, "--rate", &rate])?;
        let addr = addr_of(&floor.url)?;
        let urls = (0..n).map(|i| format!("ws://{addr}/floor/{i}")).collect();
        attach(Target::Floor(floor), addr, urls, None, workers, dir).await
    }

    pub(super) async fn command(&mut self, cmd: &str) -> Result<Vec<Value>> {
        for w in &mut self.workers {
            w.send(cmd).await?;
        }
        let mut out = Vec::new();
        for w in &mut self.workers {
            out.push(w.read().await?);
        }
        Ok(out)
    }

    /// Counts of every worker since the last call, summed.
    pub(super) async fn stats(&mut self) -> Result<Window> {
        let mut w = Window::default();
        for s in self.command("stats").await? {
            for (k, v) in [
                ("frames", &mut w.frames),
                ("gaps", &mut w.gaps),
                ("repeats", &mut w.repeats),
                ("snapshots", &mut w.snapshots),
                ("connectErrors", &mut w.connect_errors),
            ] {
                *v += s[k].as_u64().unwrap_or(0);
            }
            let hist: Vec<(usize, u64)> = serde_json::from_value(s["hist"].clone())?;
            w.hist.extend(hist);
        }
        Ok(w)
    }

    /// The server's processes: one for BooksTrack, nginx's master and workers.
    fn pids(&self) -> Vec<u32> {
        match &self.target {
            Target::Ours(s) | Target::Floor(s) => vec![s.pid()],
            Target::Nchan(n) => n.pids(),
        }
    }

    pub(super) fn rss(&self) -> u64 {
        rss_kib(&self.pids())
    }

    /// The port the target listens on.
    pub(super) fn port(&self) -> u16 {
        match &self.target {
            Target::Ours(s) | Target::Floor(s) => addr_of(&s.url).map_or(0, |a| a.port()),
            Target::Nchan(n) => n.addr.port(),
        }
    }

    pub(super) fn cpu_secs(&self) -> f64 {
        self.pids().iter().map(|p| cpu_secs(*p)).sum()
    }

    /// CPU time of the load generator's processes (viewers and publishers).
    pub(super) fn load_cpu_secs(&self) -> f64 {
        self.workers
            .iter()
            .filter_map(Worker::pid)
            .map(cpu_secs)
            .sum()
    }
}

/// User plus system CPU time of a process, in seconds.
pub(super) fn cpu_secs(pid: u32) -> f64 {
    let Some(f) = super::stat_fields(pid) else {
        return 0.0;
    };
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[derive(Default)]
pub(super) struct Window {
    pub frames: u64,
    pub gaps: u64,
    pub repeats: u64,
    pub snapshots: u64,
    pub connect_errors: u64,
    pub hist: Vec<(usize, u64)>,
}

pub async fn run(s: LoadScenario) -> Result<()> {
    match s {
        LoadScenario::Idle { sockets, load } => super::idle::idle(sockets, load).await,
        LoadScenario::Live {
            jobs,
            rate,
            seconds,
            nchan_jobs,
            together,
            floor,
            load,
        } => {
            let compare = super::live::Compare {
                nchan_jobs,
                together,
                floor,
            };
            super::live::live(jobs, rate, seconds, compare, load).await
        }
        LoadScenario::Reconnect {
            viewers,
            rate,
            load,
        } => super::reconnect::reconnect(viewers, rate, load).await,
        LoadScenario::Published {
            jobs,
            rate,
            seconds,
            load,
        } => super::published::published(jobs, rate, seconds, load).await,
        LoadScenario::Persist {
            jobs,
            rate,
            seconds,
            load,
        } => super::persist::persist(jobs, rate, seconds, load.runs).await,
        LoadScenario::Encodings(a) => super::encodings::encodings(a).await,
    }
}

pub(super) fn with_nchan(load: &LoadArgs) -> bool {
    if load.no_nchan {
        return false;
    }
    if !nchan::available() {
        println!(
            "(nchan not installed: no baseline; apt-get install nginx-light libnginx-mod-nchan)"
        );
        return false;
    }
    true
}

pub(super) const WARMUP: Duration = Duration::from_secs(3);
