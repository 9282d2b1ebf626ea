//! `bench idle`: server memory per idle authenticated socket, beside
//! nchan's per subscriber.

use super::nchan::Nchan;
use super::rss_kib;
use super::scenarios::{start_ours, with_nchan, Attached, LoadArgs};
use crate::server::median;
use anyhow::Result;
use std::net::SocketAddr;
use std::time::Duration;

/// Server options of the `idle` runs: jobs start at once rather than at
/// their first viewer's `ready`, so that the memory measured before the
/// sockets attach holds running jobs, and the difference is the sockets'.
const JOBS_RUNNING: &[&str] = &["--ready-timeout-secs", "0"];

/// Publishes one message to each of `n` channels, which makes them.
pub(super) async fn create_channels(addr: SocketAddr, n: usize) -> Result<()> {
    use futures_util::StreamExt;
    let http = super::http();
    let mut posts = futures_util::stream::iter(0..n)
        .map(|i| {
            http.post(format!("http://{addr}/pub/ch{i}"))
                .body("{}")
                .send()
        })
        .buffer_unordered(64);
    while let Some(r) = posts.next().await {
        r?.error_for_status()?;
    }
    Ok(())
}

/// The RSS of `pid` once it has stopped growing: jobs just started are
/// still writing their first checkpoints.
pub(super) async fn settled_rss(pid: u32) -> u64 {
    settled_rss_of(&[pid]).await
}

pub(super) async fn settled_rss_of(pids: &[u32]) -> u64 {
    let mut last = rss_kib(pids);
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = rss_kib(pids);
        if now.abs_diff(last) * 200 <= last {
            return now;
        }
        last = now;
    }
    last
}

/// Lets sockets and allocators settle before memory is read.
const SETTLE: Duration = Duration::from_secs(2);

/// Connections established to `port` on this machine, from the kernel's
/// table: what the target holds when its memory is read. A worker counts a
/// viewer once its handshake is done, and one the target then closes is
/// gone; the figure is per socket only if every one is still there.
fn held(port: u16) -> usize {
    let local = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(t).ok())
        .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // Fields: slot, local address, remote address, state (01: established).
            f.len() > 3 && format!("{} ", f[1]).ends_with(&local) && f[3] == "01"
        })
        .count()
}

/// The target's RSS once every socket is held, or why it cannot be read.
async fn rss_when_held(a: &Attached, n: usize, what: &str) -> Result<u64> {
    tokio::time::sleep(SETTLE).await;
    let rss = a.rss();
    let held = held(a.port());
    if held < n {
        anyhow::bail!("{what} holds {held} of its {n} sockets: the growth would not be per socket");
    }
    Ok(rss)
}

pub(super) async fn idle(n: usize, load: LoadArgs) -> Result<()> {
    let nchan = with_nchan(&load);
    println!(
        "idle: {n} authenticated sockets on {n} jobs, {} load processes",
        load.workers
    );
    // nginx's per-connection memory, resident from its start: the growth
    // measured below leaves it out.
    let slot = if nchan {
        Some(tokio::task::spawn_blocking(Nchan::slot_kib).await??)
    } else {
        None
    };
    println!("run  target     sockets  KiB/socket  (with its job/slot)  total RSS MiB");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for run in 1..=load.runs.max(1) {
        // An idle job: started, then one step an hour away.
        let (a, before) = Attached::ours(n, 1, 3_600_000, load.workers, JOBS_RUNNING).await?;
        let after = rss_when_held(&a, n, "bookstrack").await?;
        // Memory before any job existed, from a fresh server.
        let dir = tempfile::tempdir()?;
        let empty = start_ours(dir.path(), JOBS_RUNNING).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let empty_rss = rss_kib(&[empty.pid()]);
        drop(empty);
        let per = (after.saturating_sub(before)) as f64 / n as f64;
        let with_job = (after.saturating_sub(empty_rss)) as f64 / n as f64;
        println!(
            "{run:<4} bookstrack {n:>8}  {per:>9.2}  {with_job:>18.2}  {:>12.1}",
            after as f64 / 1024.0
        );
        ours.push((per, with_job));
        drop(a);
        if nchan {
            let (a, before) = Attached::nchan(n, None, load.workers).await?;
            let after = rss_when_held(&a, n, "nchan").await?;
            let per = (after.saturating_sub(before)) as f64 / n as f64;
            let with_slot = per + slot.unwrap_or(0.0);
            println!(
                "{run:<4} nchan      {n:>8}  {per:>9.2}  {with_slot:>18.2}  {:>12.1}",
                after as f64 / 1024.0
            );
            theirs.push(per);
        }
    }
    let per = median(ours.iter().map(|o| o.0).collect());
    let with_job = median(ours.iter().map(|o| o.1).collect());
    print!("median: bookstrack {per:.2} KiB per socket ({with_job:.2} KiB with its job)");
    // `slot` is measured exactly when nchan runs, once or more.
    if let Some(slot) = slot {
        let t = median(theirs);
        println!(", nchan {t:.2} KiB per subscriber: {:.2}x nchan's", per / t);
        println!(
            "nchan's connection slot (resident from its start): {slot:.2} KiB; \
             with it, nchan {:.2} KiB per subscriber: bookstrack {:.2}x nchan's",
            t + slot,
            per / (t + slot)
        );
    } else {
        println!();
    }
    Ok(())
}
