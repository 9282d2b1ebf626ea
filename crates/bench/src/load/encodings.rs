//! `bookstrack-bench encodings`: the bytes on the wire and the server's CPU
//! per delivered event for each encoding a viewer of `/ws/progress` may
//! ask for (plain JSON, permessage-deflate, MessagePack, both), taking
//! turns in one run, plain JSON being the baseline.
//!
//! Two loads: a generated Goodreads export imported while V viewers follow
//! the job (the figure the issue asks for; its CPU includes the parsing and
//! storing of every row), and synthetic jobs, whose CPU is almost all the
//! events' encoding and fan-out: few jobs with many viewers each, and as
//! many sockets as jobs of one viewer, so that a cost paid once per event
//! and one paid per viewer come apart. Beside them, in this process, the
//! server's own framing code timed on one event of each encoding. Each measurement
//! starts its own `bookstrack serve`; the viewers (`rawws`) connect first,
//! then one viewer of each job sends `ready`, which starts it, and the
//! server's CPU (utime + stime from /proc) is read from then until every
//! viewer has had its close frame. Each run checks that every viewer got
//! every event (the server's viewer queue is made large enough that none
//! is coalesced), and that the events decoded are the same, type by type
//! and seq by seq, as those of the plain JSON run of the same round.

use super::rawws::{self, Encoding, Followed, Seen};
use super::scenarios::{addr_of, cpu_secs};
use crate::server::{median, ServerChild};
use anyhow::{bail, ensure, Context, Result};
use bookstrack_client::Client;
use bookstrack_testkit::goodreads;
use clap::Args;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Args, Debug)]
pub struct EncodingsArgs {
    /// Rows of the generated Goodreads export that each import reads.
    #[arg(long, default_value_t = 10_000)]
    rows: u64,
    /// Viewers following each import, one measurement per count.
    #[arg(long, value_delimiter = ',', default_value = "1,100")]
    viewers: Vec<usize>,
    /// Synthetic loads, `JOBSxVIEWERS` each (viewers per job); empty: none.
    /// The same sockets and deliveries as many jobs of one viewer and as
    /// few jobs of many, so that what is paid per event and what is paid
    /// per viewer come apart.
    #[arg(long, value_delimiter = ',', default_value = "10x100,1000x1", value_parser = jobs_x_viewers)]
    synthetic: Vec<(usize, usize)>,
    /// Progress steps of each synthetic job.
    #[arg(long, default_value_t = 200)]
    steps: u64,
    /// Milliseconds between two steps of a synthetic job.
    #[arg(long, default_value_t = 40)]
    interval_ms: u64,
    /// Rounds; in each, every encoding is measured once for every load,
    /// the encodings' order rotated by one from the round before.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

fn jobs_x_viewers(s: &str) -> Result<(usize, usize), String> {
    let (j, v) = s
        .split_once('x')
        .ok_or_else(|| format!("{s:?}: expected JOBSxVIEWERS"))?;
    let n = |x: &str| x.trim().parse::<usize>().map_err(|e| format!("{s:?}: {e}"));
    match (n(j)?, n(v)?) {
        (0, _) | (_, 0) => Err(format!("{s:?}: jobs and viewers must be at least 1")),
        jv => Ok(jv),
    }
}

/// Handshakes in flight at once.
const CONNECTS_IN_FLIGHT: usize = 128;

/// A load and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    Import { rows: u64, viewers: usize },
    Synthetic { jobs: usize, viewers: usize },
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::Import { .. } => "import",
            Load::Synthetic { .. } => "synthetic",
        }
    }

    fn jobs(self) -> usize {
        match self {
            Load::Import { .. } => 1,
            Load::Synthetic { jobs, .. } => jobs,
        }
    }

    /// Viewers of each job.
    fn viewers(self) -> usize {
        match self {
            Load::Import { viewers, .. } | Load::Synthetic { viewers, .. } => viewers,
        }
    }
}

/// One encoding measured under one load.
struct Run {
    load: Load,
    encoding: Encoding,
    /// Events published, over every job.
    events: u64,
    /// Events received, over every viewer.
    delivered: u64,
    /// Bytes read after the 101s, over every viewer.
    bytes: u64,
    cpu_secs: f64,
    wall: Duration,
    /// The events of each job, decoded by its first viewer.
    transcripts: Vec<Vec<Seen>>,
}

impl Run {
    fn bytes_per_event(&self) -> f64 {
        self.bytes as f64 / self.delivered.max(1) as f64
    }

    fn cpu_us_per_delivered(&self) -> f64 {
        self.cpu_secs * 1e6 / self.delivered.max(1) as f64
    }
}

/// A fresh server for one measurement, with room for every viewer and a
/// viewer queue no burst of events fills (a full queue coalesces progress,
/// and the runs would not be sent the same events).
fn start_server(dir: &Path, viewers: usize) -> Result<ServerChild> {
    let max_viewers = (viewers + 1).to_string();
    ServerChild::start_with(
        &dir.join("data"),
        &[
            "--enable-synthetic-jobs",
            "--max-running-jobs",
            "1000000",
            "--max-viewers-per-job",
            &max_viewers,
            "--viewer-queue",
            "1000000",
        ],
    )
}

fn progress_path(job_id: &str, token: &str) -> String {
    format!("/ws/progress?jobId={job_id}&token={token}&lastSeq=0")
}

/// Opens `viewers` sockets on each job, starts the jobs (the first viewer
/// of each sends `ready`) and follows them to their close frames, reading
/// the server's CPU time over that span.
async fn follow_jobs(
    server: &ServerChild,
    jobs: &[(String, String)],
    viewers: usize,
    encoding: Encoding,
    load: Load,
) -> Result<Run> {
    let addr: SocketAddr = addr_of(&server.url)?;
    let permits = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
    let mut opening = Vec::new();
    for (job_id, token) in jobs {
        let path = progress_path(job_id, token);
        for _ in 0..viewers {
            let (path, permits) = (path.clone(), permits.clone());
            opening.push(async move {
                let _p = permits.acquire().await?;
                rawws::open(addr, &path, encoding).await
            });
        }
    }
    let mut opened = Vec::with_capacity(opening.len());
    for o in futures_util::future::join_all(opening).await {
        opened.push(o.context("a viewer could not connect")?);
    }
    // Each job's events take `steps × interval` at most; an import of a
    // large export may take longer: a generous bound, so a hang is an error.
    let limit = Duration::from_secs(600);
    let cpu_before = cpu_secs(server.pid());
    let t = Instant::now();
    let followers: Vec<_> = opened
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let first = i % viewers == 0;
            tokio::spawn(tokio::time::timeout(limit, o.follow(first, first)))
        })
        .collect();
    let mut got: Vec<Followed> = Vec::with_capacity(followers.len());
    for f in followers {
        got.push(f.await?.context("a viewer waited too long")??);
    }
    let wall = t.elapsed();
    // The job's last writes (its final state) follow its close frames.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cpu = cpu_secs(server.pid()) - cpu_before;
    let mut run = Run {
        load,
        encoding,
        events: 0,
        delivered: 0,
        bytes: 0,
        cpu_secs: cpu,
        wall,
        transcripts: Vec::new(),
    };
    for job in got.chunks(viewers) {
        let sample = &job[0];
        check_job(sample, job, load)?;
        run.events += sample.events;
        run.transcripts.push(sample.seen.clone());
        for v in job {
            run.delivered += v.events;
            run.bytes += v.wire_bytes;
        }
    }
    Ok(run)
}

/// Every viewer of a job got the sample's events, ending in a
/// `job_complete` (of every row, for an import) and a close 1000; the
/// sample's seqs run without a gap.
fn check_job(sample: &Followed, job: &[Followed], load: Load) -> Result<()> {
    ensure!(sample.events > 0, "no events");
    let last = sample.seen.last().cloned().unwrap_or_default();
    ensure!(last.0 == "job_complete", "the last event is {last:?}");
    let first = sample.seen[0].1.context("an event without a seq")?;
    for (i, (kind, seq)) in sample.seen.iter().enumerate() {
        ensure!(
            *seq == Some(first + i as u64),
            "event {i} ({kind}) has seq {seq:?} after seq {first} first: a gap"
        );
    }
    if let Load::Import { rows, .. } = load {
        let done = &sample.last.as_ref().context("no last event")?["payload"]["result"];
        ensure!(
            done["successCount"].as_u64() == Some(rows),
            "imported {} of {rows} rows",
            done["successCount"]
        );
    }
    for v in job {
        ensure!(
            v.events == sample.events,
            "a viewer got {} events, another {}",
            v.events,
            sample.events
        );
        ensure!(
            v.seen.last() == Some(&last),
            "a viewer's last event is {:?}, not {last:?}",
            v.seen.last()
        );
        ensure!(
            v.close_code == Some(1000),
            "a viewer was closed with {:?}",
            v.close_code
        );
    }
    Ok(())
}

async fn import_once(file: &Path, rows: u64, viewers: usize, encoding: Encoding) -> Result<Run> {
    let dir = tempfile::tempdir()?;
    let server = start_server(dir.path(), viewers)?;
    let started = Client::new(&server.url)?.start_import(file).await?;
    follow_jobs(
        &server,
        &[(started.job_id, started.token)],
        viewers,
        encoding,
        Load::Import { rows, viewers },
    )
    .await
}

async fn synthetic_once(
    jobs: usize,
    viewers: usize,
    steps: u64,
    interval_ms: u64,
    encoding: Encoding,
) -> Result<Run> {
    let dir = tempfile::tempdir()?;
    let server = start_server(dir.path(), viewers)?;
    let mut started = Vec::with_capacity(jobs);
    while started.len() < jobs {
        let count = (jobs - started.len())
            .min(bookstrack_server::http::synthetic::MAX_SYNTHETIC_JOBS_PER_REQUEST);
        let body: Value = super::http()
            .post(format!("{}/api/synthetic/jobs", server.url))
            .json(
                &json!({"count": count, "steps": steps, "intervalMs": interval_ms,
                "stamp": true, "spread": true}),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for j in body["data"]["jobs"].as_array().context("no jobs")? {
            let field = |k: &str| j[k].as_str().unwrap_or_default().to_string();
            started.push((field("jobId"), field("token")));
        }
    }
    follow_jobs(
        &server,
        &started,
        viewers,
        encoding,
        Load::Synthetic { jobs, viewers },
    )
    .await
}

const HEADER: &str = "round  load       jobs  viewers  encoding          events  delivered   wire bytes  B/event  server CPU ms  µs/delivered  wall s";

fn print_run(round: usize, r: &Run) {
    println!(
        "{round:<5}  {:<9}  {:>4}  {:>7}  {:<15}  {:>7}  {:>9}  {:>11}  {:>7.1}  {:>13.1}  {:>12.3}  {:>6.2}",
        r.load.name(),
        r.load.jobs(),
        r.load.viewers(),
        r.encoding.name(),
        r.events,
        r.delivered,
        r.bytes,
        r.bytes_per_event(),
        r.cpu_secs * 1e3,
        r.cpu_us_per_delivered(),
        r.wall.as_secs_f64(),
    );
}

/// The runs of one round under one load against its plain JSON run: the
/// same events, type by type and seq by seq, whatever the encoding.
fn check_round(runs: &[Run]) -> Result<()> {
    let Some(json) = runs.iter().find(|r| r.encoding == Encoding::Json) else {
        bail!("no plain JSON run");
    };
    for r in runs {
        ensure!(
            r.events == json.events && r.delivered == json.delivered,
            "{}: {} events ({} delivered), plain JSON {} ({})",
            r.encoding.name(),
            r.events,
            r.delivered,
            json.events,
            json.delivered
        );
        ensure!(
            r.transcripts == json.transcripts,
            "{}: the events decoded differ from plain JSON's",
            r.encoding.name()
        );
    }
    Ok(())
}

pub async fn encodings(a: EncodingsArgs) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("goodreads_library_export.csv");
    goodreads::write_goodreads(
        std::io::BufWriter::new(std::fs::File::create(&file)?),
        a.rows,
    )?;
    let mut loads: Vec<Load> = a
        .viewers
        .iter()
        .map(|&viewers| Load::Import {
            rows: a.rows,
            viewers,
        })
        .collect();
    loads.extend(
        a.synthetic
            .iter()
            .map(|&(jobs, viewers)| Load::Synthetic { jobs, viewers }),
    );
    let synthetic: Vec<String> = a
        .synthetic
        .iter()
        .map(|(j, v)| format!("{j}x{v}"))
        .collect();
    println!(
        "encodings: a generated {}-row Goodreads export imported while {:?} viewers follow /ws/progress; synthetic jobs x viewers each {synthetic:?}, {} steps every {} ms; {} rounds, the encodings in rotation",
        a.rows, a.viewers, a.steps, a.interval_ms, a.rounds
    );
    println!("wire bytes: read after the 101, through the close frame; server CPU: utime + stime from the first ready to the last close frame (+100 ms)");
    println!("{HEADER}");
    let mut runs: Vec<Run> = Vec::new();
    let mut costs: Vec<[f64; 4]> = Vec::new();
    for round in 1..=a.rounds.max(1) {
        costs.push(tokio::task::spawn_blocking(|| encode_costs(20_000)).await?);
        let order: Vec<Encoding> = (0..Encoding::ALL.len())
            .map(|i| Encoding::ALL[(i + round - 1) % Encoding::ALL.len()])
            .collect();
        for &load in &loads {
            let mut these = Vec::new();
            for &enc in &order {
                let r = match load {
                    Load::Import { rows, viewers } => import_once(&file, rows, viewers, enc).await,
                    Load::Synthetic { jobs, viewers } => {
                        synthetic_once(jobs, viewers, a.steps, a.interval_ms, enc).await
                    }
                }
                .with_context(|| format!("{} with {}", load.name(), enc.name()))?;
                print_run(round, &r);
                these.push(r);
            }
            check_round(&these).with_context(|| format!("round {round}, {} load", load.name()))?;
            runs.extend(these);
        }
    }
    summarise(&runs, &loads, a.rounds.max(1));
    let cost = |i: usize| median(costs.iter().map(|c| c[i]).collect());
    println!(
        "in this process, the server's own framing of one import progress event (Frame::from_stored + Frame::wire, median of {} rounds): json {:.2} µs; extra over json: deflate {:+.2} µs, msgpack {:+.2} µs, msgpack+deflate {:+.2} µs",
        costs.len(),
        cost(0),
        cost(1) - cost(0),
        cost(2) - cost(0),
        cost(3) - cost(0),
    );
    Ok(())
}

/// The server's per-event work of each encoding, timed here on one
/// progress event of an import: a frame made from the event's JSON, and
/// its bytes for a viewer of that encoding, the way the first viewer of
/// each event has it made (the others share it). µs per event, in the
/// order of `Encoding::ALL`.
fn encode_costs(n: usize) -> [f64; 4] {
    use bookstrack_protocol::{MessageFactory, Pipeline, ProgressUpdate};
    use bookstrack_server::hub::{Frame, Protocol, Wire};
    let json = MessageFactory::new("0194c3a2-7b1e-7f00-9a3c-5d2e8f1a6b40", Pipeline::CsvImport)
        .progress(
            51,
            1_764_000_000_000,
            ProgressUpdate {
                progress: 0.5,
                status: "Processed 5000 of 10000 rows".into(),
                books_processed: Some(5000),
                total_books: Some(10_000),
                current_title: Some("The Name of the Wind (The Kingkiller Chronicle, #1)".into()),
            },
        )
        .to_json();
    Encoding::ALL.map(|enc| {
        let wire = Wire {
            protocol: Protocol::V2,
            msgpack: enc.msgpack(),
            deflate: enc.deflate(),
        };
        let t = Instant::now();
        for _ in 0..n {
            let f = Frame::from_stored(json.clone()).expect("the event parses");
            std::hint::black_box(f.wire(wire).len());
        }
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    })
}

/// `x` to two places, or a dash where a ratio has no base (a CPU time
/// below the clock's 10 ms tick).
fn two_places(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else {
        "-".into()
    }
}

/// Medians over the rounds; each ratio is the median of the rounds' own
/// ratios to the plain JSON run of the same round and load.
fn summarise(runs: &[Run], loads: &[Load], rounds: usize) {
    println!("medians of {rounds} rounds; ratios: the median of each round's ratio to its plain JSON run; extra CPU: (CPU − plain JSON's CPU) / events published");
    println!("load       jobs  viewers  encoding          events  B/event  total bytes  ratio  server CPU ms  µs/delivered  ratio  extra µs/event");
    for &load in loads {
        let of = |e: Encoding| -> Vec<&Run> {
            runs.iter()
                .filter(|r| r.load == load && r.encoding == e)
                .collect()
        };
        let json = of(Encoding::Json);
        for enc in Encoding::ALL {
            let these = of(enc);
            let med = |f: &dyn Fn(&Run) -> f64| median(these.iter().map(|r| f(r)).collect());
            let ratio = |f: &dyn Fn(&Run) -> f64| {
                median(these.iter().zip(&json).map(|(r, j)| f(r) / f(j)).collect())
            };
            let extra = median(
                these
                    .iter()
                    .zip(&json)
                    .map(|(r, j)| (r.cpu_secs - j.cpu_secs) * 1e6 / r.events.max(1) as f64)
                    .collect(),
            );
            println!(
                "{:<9}  {:>4}  {:>7}  {:<15}  {:>7.0}  {:>7.1}  {:>11.0}  {:>5}  {:>13.1}  {:>12.3}  {:>5}  {:>14.1}",
                load.name(),
                load.jobs(),
                load.viewers(),
                enc.name(),
                med(&|r| r.events as f64),
                med(&|r| r.bytes_per_event()),
                med(&|r| r.bytes as f64),
                two_places(ratio(&|r| r.bytes as f64)),
                med(&|r| r.cpu_secs * 1e3),
                med(&|r| r.cpu_us_per_delivered()),
                two_places(ratio(&|r| r.cpu_secs)),
                extra,
            );
        }
    }
}
