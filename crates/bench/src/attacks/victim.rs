//! What an attack is measured by: the server's memory above idle, and how
//! much longer another client's job takes while it runs. The victim comes
//! from another source address (127.0.0.2), as another client would, so
//! limits per client address do not count it with the attacker.

use super::wire;
use anyhow::{bail, Context, Result};
use bookstrack_testkit::goodreads;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const VICTIM: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
pub const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

/// Rows of the victim's import: small, so its time is the server's
/// responsiveness, not its throughput.
const VICTIM_ROWS: usize = 2000;

/// An HTTP client whose connections come from `source`.
pub fn http_from(source: IpAddr) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .local_address(source)
        .build()
        .expect("an HTTP client")
}

/// One victim import: upload to completion seen in the job state.
pub async fn victim_import(url: &str) -> Result<Duration> {
    let http = http_from(VICTIM);
    let csv = goodreads::goodreads_csv(VICTIM_ROWS, &[]);
    let t = Instant::now();
    let part =
        reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("goodreads_library_export.csv");
    let r = http
        .post(format!("{url}/api/import/csv"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or_default();
    if status != 202 {
        bail!("the victim's import was refused: {status} {v}");
    }
    let (id, token) = (
        v["data"]["jobId"].as_str().context("jobId")?,
        v["data"]["token"].as_str().context("token")?,
    );
    follow_to_end(url, id, token).await?;
    Ok(t.elapsed())
}

/// Follows a job from 127.0.0.2 as the SDK would (open, `ready`, read) until
/// its `job_complete` arrives (not until the close, which waits for the
/// client's close reply).
pub async fn follow_to_end(url: &str, id: &str, token: &str) -> Result<()> {
    let path = format!("/ws/progress?jobId={id}&token={token}");
    let mut s = match wire::ws_open(wire::addr(url)?, VICTIM, &path).await? {
        Ok(s) => s,
        Err(status) => bail!("the victim's socket was refused: {status}"),
    };
    s.write_all(&wire::frame(1, br#"{"type":"ready"}"#)).await?;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(120), s.read(&mut buf))
            .await
            .context("the victim's job sent nothing for 2 minutes")??;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.windows(12).any(|w| w == b"job_complete") {
            return Ok(());
        }
        got.drain(..got.len().saturating_sub(16));
    }
    bail!("the victim's job ended without job_complete")
}

/// Victim imports one after another until `stop`: each one's time.
pub async fn victim_loop(url: String, stop: Arc<AtomicBool>) -> Result<Vec<Duration>> {
    let mut times = Vec::new();
    while !stop.load(Ordering::Relaxed) || times.is_empty() {
        times.push(victim_import(&url).await?);
    }
    Ok(times)
}

/// Samples the server's resident memory every 20 ms until `stop`: the most.
pub fn rss_sampler(pid: u32, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    let most = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let now = crate::load::rss_kib(&[pid]);
            most.fetch_max(now, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        most.load(Ordering::Relaxed)
    })
}
