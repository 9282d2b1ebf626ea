//! `bench reconnect`: every viewer dropped at once, each back with its
//! lastSeq; how long until all have caught up, and nothing lost or repeated.

use super::scenarios::{Attached, LoadArgs, WARMUP};
use crate::server::median;
use anyhow::{bail, Result};
use serde_json::Value;
use std::time::Duration;

pub(super) async fn reconnect(viewers: usize, rate: f64, load: LoadArgs) -> Result<()> {
    let interval_ms = (1000.0 / rate).round() as u64;
    let steps = (rate * 600.0) as u64;
    println!("reconnect: {viewers} viewers on {viewers} jobs at {rate} events/s, all dropped at once, each back with its lastSeq");
    println!("run  all back (ms)  all caught up (ms)  lost  repeated  snapshots  connect retries");
    let mut times = Vec::new();
    for run in 1..=load.runs.max(1) {
        let (mut a, _) = Attached::ours(viewers, steps, interval_ms, load.workers, &[]).await?;
        tokio::time::sleep(WARMUP).await;
        a.stats().await?;
        let caught: Vec<Value> = a.command("drop").await?;
        // The slowest worker's figure, in ms.
        let slowest_ms = |key: &str| {
            caught
                .iter()
                .filter_map(|c| c[key].as_u64())
                .max()
                .unwrap_or(0) as f64
                / 1000.0
        };
        let back = slowest_ms("slowestBackUs");
        let slowest = slowest_ms("slowestCatchUpUs");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let w = a.stats().await?;
        println!(
            "{run:<4} {back:>13.1}  {slowest:>18.1}  {:>4}  {:>8}  {:>9}  {:>15}",
            w.gaps, w.repeats, w.snapshots, w.connect_errors
        );
        if w.gaps + w.repeats + w.snapshots > 0 {
            bail!("events were lost or repeated");
        }
        times.push(slowest);
    }
    println!(
        "median: all {viewers} caught up in {:.1} ms, nothing lost or repeated",
        median(times)
    );
    Ok(())
}
