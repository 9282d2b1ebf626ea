//! `bench published`: external jobs whose events come over the publisher
//! API (docs/PROTOCOL.md §21), one viewer each, against the same load from
//! internal synthetic jobs and from nchan's HTTP publisher, each measured
//! in turn in every run: delivered events/s and publish-to-receive latency.

use super::live::{measure, print_live, summary, LiveRun};
use super::scenarios::{
    addr_of, attach, start_ours, with_nchan, Attached, LoadArgs, Target, WARMUP,
};
use crate::server::median;
use anyhow::Result;
use serde_json::{json, Value};

impl Attached {
    /// `n` external jobs, each published to at `rate` events/s over HTTP by
    /// publisher processes of their own, as nchan's channels are.
    pub(super) async fn external(n: usize, rate: f64, workers: usize) -> Result<Attached> {
        let dir = tempfile::tempdir()?;
        let server = start_ours(
            dir.path(),
            &[
                "--max-external-jobs-per-client",
                "1000000",
                "--publish-rate",
                "1000000",
                // Thousands of external jobs from this one address.
                "--max-jobs-per-client",
                "1000000",
                "--max-active-jobs",
                "1000000",
                "--job-start-burst",
                "1000000",
            ],
        )
        .await?;
        let addr = addr_of(&server.url)?;
        let (urls, paths) = external_jobs(&server.url, n).await?;
        attach(
            Target::Ours(server),
            addr,
            urls,
            Some((paths, rate)),
            workers,
            dir,
        )
        .await
    }
}

/// Creates `n` external jobs; returns their viewer URLs and, for each, its
/// publish path and key (`PATH KEY`).
async fn external_jobs(url: &str, n: usize) -> Result<(Vec<String>, Vec<String>)> {
    let http = super::http();
    let ws = url.replace("http://", "ws://");
    let create = |_| {
        let http = http.clone();
        async move {
            let body: Value = http
                .post(format!("{url}/api/jobs"))
                .json(&json!({"pipeline": "csv_import", "totalCount": 1_000_000_000u64}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            anyhow::Ok(body["data"].clone())
        }
    };
    let (mut urls, mut paths) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        for d in futures_util::future::join_all(chunk.iter().map(create)).await {
            let d = d?;
            let field = |k: &str| d[k].as_str().unwrap_or_default().to_string();
            let job = field("jobId");
            urls.push(format!(
                "{ws}/ws/progress?jobId={job}&token={}&lastSeq={{seq}}",
                field("token")
            ));
            paths.push(format!("/api/jobs/{job}/events {}", field("publisherKey")));
        }
    }
    Ok((urls, paths))
}

pub(super) async fn published(jobs: usize, rate: f64, seconds: u64, load: LoadArgs) -> Result<()> {
    let nchan = with_nchan(&load);
    let steps = (rate * (seconds as f64 + 120.0)) as u64;
    let interval_ms = (1000.0 / rate).round() as u64;
    println!("published: {jobs} jobs, {rate} events/s each, {seconds} s windows after a {WARMUP:?} warm-up; latency from publish to receive");
    println!("external: POST /api/jobs/{{id}}/events, one event per request, pipelined on keep-alive connections from publisher processes");
    println!("run  target       jobs  delivered/s   p50 ms   p99 ms  p99.9 ms  lost  server CPU  load CPU");
    let (mut internal, mut external, mut theirs): (Vec<LiveRun>, Vec<LiveRun>, Vec<LiveRun>) =
        (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=load.runs.max(1) {
        let (mut a, _) = Attached::ours(jobs, steps, interval_ms, load.workers, &[]).await?;
        let r = measure(&mut [&mut a], seconds).await?.remove(0);
        drop(a);
        print_live(run, "internal", jobs, &r);
        internal.push(r);
        let mut a = Attached::external(jobs, rate, load.workers).await?;
        let r = measure(&mut [&mut a], seconds).await?.remove(0);
        drop(a);
        print_live(run, "external", jobs, &r);
        external.push(r);
        if nchan {
            let (mut a, _) = Attached::nchan(jobs, Some(rate), load.workers).await?;
            let r = measure(&mut [&mut a], seconds).await?.remove(0);
            drop(a);
            print_live(run, "nchan", jobs, &r);
            theirs.push(r);
        }
    }
    println!("median, internal synthetic jobs: {}", summary(&internal));
    println!("median, external (published) jobs: {}", summary(&external));
    let ratio = |a: &[LiveRun], b: &[LiveRun], f: fn(&LiveRun) -> f64| {
        median(a.iter().zip(b).map(|(x, y)| f(x) / f(y)).collect())
    };
    println!(
        "external / internal, median of the runs' ratios: delivered {:.2}x, p50 {:.2}x, p99 {:.2}x, server CPU per event {:.2}x",
        ratio(&external, &internal, |r| r.events_per_sec),
        ratio(&external, &internal, |r| r.p[0]),
        ratio(&external, &internal, |r| r.p[1]),
        ratio(&external, &internal, |r| r.cpu_per_kev),
    );
    if !theirs.is_empty() {
        println!("median, nchan HTTP publisher: {}", summary(&theirs));
        println!(
            "external / nchan, median of the runs' ratios: delivered {:.2}x, p50 {:.2}x, p99 {:.2}x, server CPU per event {:.2}x",
            ratio(&external, &theirs, |r| r.events_per_sec),
            ratio(&external, &theirs, |r| r.p[0]),
            ratio(&external, &theirs, |r| r.p[1]),
            ratio(&external, &theirs, |r| r.cpu_per_kev),
        );
    }
    Ok(())
}
