//! `bench live`: J jobs with one viewer each, each publishing R events/s;
//! delivered events/s and latency from publish to receive, beside nchan.

use super::scenarios::{with_nchan, Attached, LoadArgs, WARMUP};
use super::stats::percentiles;
use crate::server::median;
use anyhow::Result;
use std::time::{Duration, Instant};

pub(super) struct LiveRun {
    pub(super) events_per_sec: f64,
    pub(super) p: Vec<f64>,
    lost: u64,
    pub(super) cpu_per_kev: f64,
    load_cpu_per_kev: f64,
}

const PERCENTILES: [f64; 3] = [0.5, 0.99, 0.999];

/// Every target over one and the same window, after the warm-up.
pub(super) async fn measure(targets: &mut [&mut Attached], seconds: u64) -> Result<Vec<LiveRun>> {
    tokio::time::sleep(WARMUP).await;
    let mut cpu = Vec::new();
    for a in targets.iter_mut() {
        a.stats().await?;
        cpu.push((a.cpu_secs(), a.load_cpu_secs()));
    }
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let mut runs = Vec::new();
    for (a, (cpu, load_cpu)) in targets.iter_mut().zip(cpu) {
        let w = a.stats().await?;
        let elapsed = t.elapsed().as_secs_f64();
        let per_kev = |secs: f64| secs / (w.frames.max(1) as f64 / 1000.0) * 1000.0;
        runs.push(LiveRun {
            events_per_sec: w.frames as f64 / elapsed,
            p: percentiles(&w.hist, &PERCENTILES),
            lost: w.gaps + w.snapshots,
            cpu_per_kev: per_kev(a.cpu_secs() - cpu),
            load_cpu_per_kev: per_kev(a.load_cpu_secs() - load_cpu),
        });
    }
    Ok(runs)
}

/// Medians of a target's runs.
pub(super) fn summary(runs: &[LiveRun]) -> String {
    let med = |f: fn(&LiveRun) -> f64| median(runs.iter().map(f).collect());
    format!(
        "{:.0} events/s delivered, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, {:.1} ms of server CPU per 1k events",
        med(|r| r.events_per_sec),
        med(|r| r.p[0]),
        med(|r| r.p[1]),
        med(|r| r.p[2]),
        med(|r| r.cpu_per_kev)
    )
}

pub(super) fn print_live(run: usize, target: &str, jobs: usize, r: &LiveRun) {
    println!(
        "{run:<4} {target:<10} {jobs:>6}  {:>10.0}  {:>7.3}  {:>7.3}  {:>7.3}  {:>5}  {:>10.2}  {:>10.2}",
        r.events_per_sec, r.p[0], r.p[1], r.p[2], r.lost, r.cpu_per_kev, r.load_cpu_per_kev
    );
}

/// How each target's jobs are made and watched.
struct Load {
    rate: f64,
    steps: u64,
    interval_ms: u64,
    workers: usize,
}

impl Load {
    async fn ours(&self, jobs: usize) -> Result<Attached> {
        let (a, _) = Attached::ours(jobs, self.steps, self.interval_ms, self.workers, &[]).await?;
        Ok(a)
    }

    async fn nchan(&self, jobs: usize) -> Result<Attached> {
        let (a, _) = Attached::nchan(jobs, Some(self.rate), self.workers).await?;
        Ok(a)
    }

    async fn floor(&self, jobs: usize) -> Result<Attached> {
        Attached::floor(jobs, self.rate, self.workers).await
    }
}

/// What each run of ours at the full job count is compared with.
pub(super) struct Compare {
    pub nchan_jobs: usize,
    pub together: bool,
    pub floor: bool,
}

pub(super) async fn live(
    jobs: usize,
    rate: f64,
    seconds: u64,
    compare: Compare,
    load: LoadArgs,
) -> Result<()> {
    let Compare {
        nchan_jobs,
        together,
        floor,
    } = compare;
    let nchan = with_nchan(&load);
    let l = Load {
        rate,
        steps: (rate * (seconds as f64 + 120.0)) as u64,
        interval_ms: (1000.0 / rate).round() as u64,
        workers: load.workers,
    };
    print_header(rate, seconds, nchan && together, nchan_jobs);
    let mut full = Vec::new();
    let mut floors = Vec::new();
    let mut pairs = Vec::new();
    for run in 1..=load.runs.max(1) {
        let r = measure(&mut [&mut l.ours(jobs).await?], seconds)
            .await?
            .remove(0);
        print_live(run, "bookstrack", jobs, &r);
        full.push(r);
        if floor {
            let mut f = l.floor(jobs).await?;
            let r = measure(&mut [&mut f], seconds).await?.remove(0);
            print_live(run, "floor", jobs, &r);
            floors.push(r);
        }
        if !nchan {
            continue;
        }
        // Each target stops once measured, before the next one starts.
        let (ours, theirs) = if together {
            let (mut a, mut b) = (l.ours(nchan_jobs).await?, l.nchan(nchan_jobs).await?);
            let mut r = measure(&mut [&mut a, &mut b], seconds).await?;
            (r.remove(0), r.remove(0))
        } else {
            let mut ours = measure(&mut [&mut l.ours(nchan_jobs).await?], seconds).await?;
            let mut theirs = measure(&mut [&mut l.nchan(nchan_jobs).await?], seconds).await?;
            (ours.remove(0), theirs.remove(0))
        };
        print_live(run, "bookstrack", nchan_jobs, &ours);
        print_live(run, "nchan", nchan_jobs, &theirs);
        pairs.push((ours, theirs));
    }
    print_medians(jobs, nchan_jobs, &full, &floors, &pairs);
    Ok(())
}

/// What the table below measures, and its columns.
fn print_header(rate: f64, seconds: u64, together: bool, nchan_jobs: usize) {
    println!("live: {rate} events/s per job, {seconds} s windows after a {WARMUP:?} warm-up; latency from publish to receive");
    if together {
        println!(
            "(at {nchan_jobs} jobs both targets run at once and are measured over the same window)"
        );
    }
    println!(
        "CPU: ms per 1,000 delivered events, of the server's processes and of the load generator's"
    );
    println!("run  target       jobs  delivered/s   p50 ms   p99 ms  p99.9 ms  lost  server CPU  load CPU");
}

/// The medians of every run: ours at the full count, the floor, and each
/// comparison with nchan by its own run's ratio.
fn print_medians(
    jobs: usize,
    nchan_jobs: usize,
    full: &[LiveRun],
    floors: &[LiveRun],
    pairs: &[(LiveRun, LiveRun)],
) {
    println!("median at {jobs} jobs: {}", summary(full));
    if !floors.is_empty() {
        println!(
            "median at {jobs} jobs, floor (a sender that only writes): {}",
            summary(floors)
        );
    }
    if !pairs.is_empty() {
        let pmed = |f: fn(&LiveRun) -> f64| {
            (
                median(pairs.iter().map(|(o, _)| f(o)).collect()),
                median(pairs.iter().map(|(_, t)| f(t)).collect()),
                // Each run's own ratio: the noise of its hour cancels out.
                median(pairs.iter().map(|(o, t)| f(o) / f(t)).collect()),
            )
        };
        let (o99, t99, r99) = pmed(|r| r.p[1]);
        let (oc, tc, rc) = pmed(|r| r.cpu_per_kev);
        println!(
            "median at {nchan_jobs} jobs: p99 bookstrack {o99:.3} ms vs nchan {t99:.3} ms ({:.2}x; median of the runs' ratios {r99:.2}x); server CPU per 1k events {oc:.1} vs {tc:.1} ms ({:.2}x; {rc:.2}x)",
            o99 / t99,
            oc / tc
        );
    }
}
