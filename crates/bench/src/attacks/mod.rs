//! `bookstrack-bench attacks`: what one client with no credentials can do
//! to a server on default flags, each attack against a fresh server. Each
//! reports the server's resident memory above idle at its peak and how
//! much longer another client's small import takes meanwhile (issue 17's
//! acceptance: under 100 MiB and under one second), next to what the
//! server answered the attacker.

mod cases_http;
mod cases_ws;
mod victim;
mod wire;

use crate::server::{median, ServerChild};
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

#[derive(Args, Debug)]
pub struct AttackArgs {
    /// Only these attacks (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Attack>,
    /// Extra flags for `bookstrack serve`, e.g. to try a limit.
    #[arg(long, allow_hyphen_values = true)]
    server_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Attack {
    PingFlood,
    EndedReplay,
    SocketSpam,
    Results,
    CsvQuadratic,
    BigPng,
    MultipartHeader,
    MultipartFormat,
    StalledBody,
    JobSpam,
}

/// What an attack holds while it runs: the server under attack and, once
/// [`Ctx::begin`] is called, the measurements.
#[derive(Clone)]
pub struct Ctx {
    url: String,
    addr: SocketAddr,
    inner: Arc<Inner>,
}

struct Inner {
    server: Mutex<ServerChild>,
    pid: u32,
    running: tokio::sync::Mutex<Option<Running>>,
    report: Mutex<Report>,
}

struct Running {
    stop: Arc<AtomicBool>,
    sampler: JoinHandle<u64>,
    victims: JoinHandle<Result<Vec<Duration>>>,
}

#[derive(Default, Clone)]
struct Report {
    idle_kib: u64,
    peak_kib: u64,
    baseline: Option<Duration>,
    during: Vec<Duration>,
    co_viewer_delay: Option<Duration>,
}

impl Ctx {
    /// Setup done: idle memory and the victim's time without the attack are
    /// measured now, then memory sampling and victim imports start.
    async fn begin(&self) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = crate::load::rss_kib(&[self.inner.pid]);
        let mut base = Vec::new();
        for _ in 0..3 {
            if let Ok(t) = victim::victim_import(&self.url).await {
                base.push(t);
            }
        }
        {
            let mut r = self.inner.report.lock().expect("report");
            r.idle_kib = idle;
            r.baseline = (!base.is_empty()).then(|| median(base));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = victim::rss_sampler(self.inner.pid, stop.clone());
        let victims = tokio::spawn(victim::victim_loop(self.url.clone(), stop.clone()));
        *self.inner.running.lock().await = Some(Running {
            stop,
            sampler,
            victims,
        });
    }

    /// The attack is over (or about to stop the server): measurements end.
    async fn end(&self) {
        let Some(run) = self.inner.running.lock().await.take() else {
            return;
        };
        run.stop.store(true, Ordering::Relaxed);
        let peak = run.sampler.await.unwrap_or(0);
        let during = match run.victims.await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                println!("  the victim failed: {e:#}");
                Vec::new()
            }
            Err(e) => {
                println!("  the victim panicked: {e}");
                Vec::new()
            }
        };
        let mut r = self.inner.report.lock().expect("report");
        r.peak_kib = peak;
        r.during = during;
    }

    fn note_delay(&self, d: Duration) {
        self.inner.report.lock().expect("report").co_viewer_delay = Some(d);
    }

    /// SIGTERM to the server; how long it took to exit, if it did by `max`.
    async fn terminate(&self, max: Duration) -> Result<Option<Duration>> {
        std::process::Command::new("kill")
            .args(["-TERM", &self.inner.pid.to_string()])
            .status()?;
        let t = std::time::Instant::now();
        while t.elapsed() < max {
            if self.inner.server.lock().expect("server").exited()? {
                return Ok(Some(t.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(None)
    }
}

async fn run_one(attack: Attack, ctx: &Ctx) -> Result<String> {
    use Attack::*;
    match attack {
        PingFlood => cases_ws::ping_flood(ctx).await,
        EndedReplay => cases_ws::ended_replay(ctx).await,
        SocketSpam => cases_ws::socket_spam(ctx).await,
        Results => cases_http::results(ctx).await,
        CsvQuadratic => cases_http::csv_quadratic(ctx).await,
        BigPng => cases_http::big_png(ctx).await,
        MultipartHeader => cases_http::multipart_header(ctx).await,
        MultipartFormat => cases_http::multipart_format(ctx).await,
        StalledBody => cases_http::stalled_body(ctx).await,
        JobSpam => cases_http::job_spam(ctx).await,
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{}", d.as_millis()))
}

pub async fn run(a: AttackArgs) -> Result<()> {
    let attacks = if a.only.is_empty() {
        Attack::value_variants().to_vec()
    } else {
        a.only
    };
    println!(
        "each attack against a fresh `bookstrack serve` (default flags, synthetic jobs on{});",
        if a.server_args.is_empty() {
            String::new()
        } else {
            format!(", {}", a.server_args.join(" "))
        }
    );
    println!("memory: peak VmRSS above idle, sampled every 20 ms; victim: a 2,000-row import from 127.0.0.2, before and during");
    for attack in attacks {
        let dir = tempfile::tempdir()?;
        let mut flags = vec!["--enable-synthetic-jobs"];
        flags.extend(a.server_args.iter().map(String::as_str));
        let server = ServerChild::start_with(&dir.path().join("data"), &flags)?;
        let ctx = Ctx {
            url: server.url.clone(),
            addr: wire::addr(&server.url)?,
            inner: Arc::new(Inner {
                pid: server.pid(),
                server: Mutex::new(server),
                running: tokio::sync::Mutex::new(None),
                report: Mutex::new(Report::default()),
            }),
        };
        let name = attack
            .to_possible_value()
            .expect("named")
            .get_name()
            .to_string();
        let outcome = run_one(attack, &ctx).await;
        ctx.end().await;
        let r = ctx.inner.report.lock().expect("report").clone();
        let extra = r.peak_kib.saturating_sub(r.idle_kib) as f64 / 1024.0;
        let (med, max) = if r.during.is_empty() {
            (None, None)
        } else {
            (
                Some(median(r.during.clone())),
                r.during.iter().max().copied(),
            )
        };
        println!(
            "{name:<17} idle {:>5.1} MiB  peak +{extra:>7.1} MiB  victim {} ms before, {} ms median / {} ms max during ({} runs){}",
            r.idle_kib as f64 / 1024.0,
            ms(r.baseline),
            ms(med),
            ms(max),
            r.during.len(),
            r.co_viewer_delay.map_or(String::new(), |d| format!(", co-viewer delayed {} ms", d.as_millis()))
        );
        match outcome {
            Ok(o) => println!("  {o}"),
            Err(e) => println!("  attack error: {e:#}"),
        }
    }
    Ok(())
}
