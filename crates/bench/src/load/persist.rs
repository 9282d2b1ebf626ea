//! `bench persist`: what the write-ahead log and the state throttle cost
//! under live load, read from the server's own counters.

use super::scenarios::Attached;
use crate::server::median;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::time::Duration;

async fn counters(url: &str) -> Result<HashMap<String, f64>> {
    let text = super::http()
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((
                k.trim_start_matches("bookstrack_").to_string(),
                v.parse().ok()?,
            ))
        })
        .collect())
}

pub async fn persist(jobs: usize, rate: f64, seconds: u64, runs: usize) -> Result<()> {
    let interval_ms = (1000.0 / rate).round() as u64;
    let steps = (rate * (seconds as f64 + 120.0)) as u64;
    println!("persist: {jobs} jobs at {rate} events/s for {seconds} s (csv_import throttle: 20 updates or 30 s)");
    println!("run  updates  state writes  per update  store writes  commits  writes/commit  µs/commit  µs/write");
    let mut per_update = Vec::new();
    let mut per_write = Vec::new();
    for run in 1..=runs.max(1) {
        let (a, _) = Attached::ours(jobs, steps, interval_ms, 2, &[]).await?;
        let url = a.url().context("no server")?.to_string();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let before = counters(&url).await?;
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let after = counters(&url).await?;
        let d =
            |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
        let updates = d("state_updates_total");
        let writes = d("state_writes_total");
        let store_writes = d("store_writes_total");
        let commits = d("store_commits_total");
        let busy = d("store_busy_microseconds_total");
        println!(
            "{run:<4} {updates:>7.0}  {writes:>12.0}  {:>10.4}  {store_writes:>12.0}  {commits:>7.0}  {:>13.1}  {:>9.1}  {:>8.2}",
            writes / updates.max(1.0),
            store_writes / commits.max(1.0),
            busy / commits.max(1.0),
            busy / store_writes.max(1.0)
        );
        per_update.push(writes / updates.max(1.0));
        per_write.push(busy / store_writes.max(1.0));
    }
    println!(
        "median: {:.4} state writes per progress update; {:.2} µs of writer time per logged write",
        median(per_update),
        median(per_write)
    );
    Ok(())
}
