//! The attacks over WebSocket: a ping flood that never reads its pongs,
//! many sockets that never read an ended job's replay, and sockets opened
//! until the server refuses them.

use super::victim::{http_from, ATTACKER, VICTIM};
use super::{wire, Ctx};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One synthetic job of `steps` steps 10 ms apart: (job id, token).
async fn synthetic_job(ctx: &Ctx, steps: u64) -> Result<(String, String)> {
    let body = json!({"count": 1, "steps": steps, "intervalMs": 10});
    let r = http_from(ATTACKER)
        .post(format!("{}/api/synthetic/jobs", ctx.url))
        .json(&body)
        .send()
        .await?;
    let v: Value = r.json().await?;
    let j = &v["data"]["jobs"][0];
    Ok((
        j["jobId"].as_str().context("jobId")?.into(),
        j["token"].as_str().context("token")?.into(),
    ))
}

/// A viewer from the victim's address that reads everything: the longest
/// time between two reads while `stop` is unset.
async fn co_viewer(ctx: Ctx, path: String, stop: Arc<AtomicBool>) -> Result<Duration> {
    let mut s = match wire::ws_open(ctx.addr, VICTIM, &path).await? {
        Ok(s) => s,
        Err(status) => bail!("the co-viewer was refused: {status}"),
    };
    s.write_all(&wire::frame(1, br#"{"type":"ready"}"#)).await?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut last, mut most) = (Instant::now(), Duration::ZERO);
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
        most = most.max(last.elapsed());
        last = Instant::now();
    }
    Ok(most)
}

/// 30 MiB of `{"type":"ping"}` on a live job's socket, nothing read; a
/// co-viewer of the same job counts the longest pause in what it gets.
pub async fn ping_flood(ctx: &Ctx) -> Result<String> {
    let (id, token) = synthetic_job(ctx, 6000).await?;
    let path = format!("/ws/progress?jobId={id}&token={token}");
    let stop = Arc::new(AtomicBool::new(false));
    let viewer = tokio::spawn(co_viewer(ctx.clone(), path.clone(), stop.clone()));
    let mut s = match wire::ws_open(ctx.addr, ATTACKER, &path).await? {
        Ok(s) => s,
        Err(status) => bail!("the attacker's socket was refused: {status}"),
    };
    ctx.begin().await;
    let ping = wire::frame(1, br#"{"type":"ping"}"#);
    let batch: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 4096)
        .collect();
    let sent = wire::write_until(&mut s, &batch, 30 << 20, Duration::from_secs(3)).await;
    let answer = wire::answer(&mut s, Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let gap = viewer.await??;
    ctx.note_delay(gap.saturating_sub(Duration::from_millis(10)));
    Ok(format!(
        "{:.1} MiB of pings taken, then {answer}; co-viewer's longest pause {} ms",
        sent as f64 / 1048576.0,
        gap.as_millis()
    ))
}

/// POSTs to the publisher API, waiting out 429s.
async fn publish(ctx: &Ctx, id: &str, key: &str, events: Value) -> Result<()> {
    let http = http_from(ATTACKER);
    loop {
        let r = http
            .post(format!("{}/api/jobs/{id}/events", ctx.url))
            .bearer_auth(key)
            .json(&json!({ "events": events }))
            .send()
            .await?;
        match r.status().as_u16() {
            200 => return Ok(()),
            429 => tokio::time::sleep(Duration::from_millis(500)).await,
            s => bail!(
                "publish answered {s}: {}",
                r.text().await.unwrap_or_default()
            ),
        }
    }
}

/// An ended external job whose 400 progress events each carry ~60 KiB, then
/// 40 sockets resuming it from 0 that never read.
pub async fn ended_replay(ctx: &Ctx) -> Result<String> {
    const EVENTS: u64 = 400;
    let r = http_from(ATTACKER)
        .post(format!("{}/api/jobs", ctx.url))
        .json(&json!({"pipeline": "batch_enrichment", "totalCount": EVENTS}))
        .send()
        .await?;
    let v: Value = r.json().await?;
    let field = |k: &str| {
        v["data"][k]
            .as_str()
            .map(str::to_string)
            .context("job-create answer")
    };
    let (id, token, key) = (field("jobId")?, field("token")?, field("publisherKey")?);
    let status = "x".repeat(60_000);
    for chunk in (1..=EVENTS).collect::<Vec<_>>().chunks(15) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"type": "progress", "booksProcessed": i, "status": status}))
            .collect();
        publish(ctx, &id, &key, Value::Array(events)).await?;
    }
    publish(ctx, &id, &key, json!([{"type": "complete", "result": {}}])).await?;
    ctx.begin().await;
    let path = format!("/ws/progress?jobId={id}&token={token}&lastSeq=0");
    let (mut held, mut refused) = (Vec::new(), Vec::new());
    for _ in 0..40 {
        match wire::ws_open(ctx.addr, ATTACKER, &path).await? {
            Ok(s) => held.push(s),
            Err(status) => refused.push(status),
        }
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(format!(
        "{} of 40 sockets opened and held 5 s unread; refused: {}",
        held.len(),
        summarize(&refused)
    ))
}

/// Multiplexed sockets from one address until refused (or 2,500).
pub async fn socket_spam(ctx: &Ctx) -> Result<String> {
    ctx.begin().await;
    let (mut held, mut refused) = (Vec::new(), Vec::new());
    for _ in 0..2500 {
        match wire::ws_open(ctx.addr, ATTACKER, "/ws/jobs").await {
            Ok(Ok(s)) => held.push(s),
            Ok(Err(status)) => refused.push(status),
            Err(e) => refused.push(format!("{e}")),
        }
    }
    Ok(format!(
        "{} of 2500 sockets from one address opened; refused: {}",
        held.len(),
        summarize(&refused)
    ))
}

/// `N × status` for each distinct refusal.
pub fn summarize(refusals: &[String]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in refusals {
        match counts.iter_mut().find(|(s, _)| s == r) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.clone(), 1)),
        }
    }
    if counts.is_empty() {
        return "none".into();
    }
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} × {s}")).collect();
    parts.join(", ")
}
