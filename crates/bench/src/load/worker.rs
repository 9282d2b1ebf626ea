//! One load-generator process (`bookstrack-bench worker`, started by the
//! scenarios): it holds a share of the viewers from its own source address,
//! so that no process nears the descriptor limit and no address runs out of
//! ports, and answers its parent's commands on stdin with one JSON line each.
//!
//! Commands: `stats` (counts and latencies since the last `stats`), `drop`
//! (close every socket at once and reconnect each with its `lastSeq`, then
//! report when every viewer had been sent every event published before it
//! was back), `quit`.

use super::publish::Publisher;
use super::stats::{now_us, Probe, Stats};
use anyhow::{Context, Result};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Source addresses per worker (127.A.k.1, k < this), viewers spread over
/// them. bind() to a crowded address searches a crowded port space under a
/// lock: with one address per worker, reconnect storms that followed another
/// run within TIME_WAIT's 60 s were accepted at ~220/s per worker.
const SOURCES_PER_WORKER: usize = 32;

/// The `index`th viewer's source address: `base` with its third octet set.
fn source_for(base: IpAddr, index: usize) -> IpAddr {
    match base {
        IpAddr::V4(v4) => {
            let [a, b, _, _] = v4.octets();
            IpAddr::V4(std::net::Ipv4Addr::new(
                a,
                b,
                (index % SOURCES_PER_WORKER) as u8,
                1,
            ))
        }
        v6 => v6,
    }
}

/// Handshakes in flight per worker: beyond this the server's accept queue
/// overflows and connections stall on SYN retries.
const CONNECTS_IN_FLIGHT: usize = 256;

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The server, as `HOST:PORT`.
    #[arg(long)]
    server: SocketAddr,
    /// Local address to connect from: 127.A.x.1 for x below
    /// `SOURCES_PER_WORKER`, the first two octets taken from here.
    #[arg(long)]
    source: IpAddr,
    /// A file of WebSocket URLs, one viewer each; `{seq}` is replaced by the
    /// viewer's last seen seq on every (re)connect.
    #[arg(long)]
    urls: PathBuf,
    /// Send `{"type":"ready"}` after connecting (the BooksTrack protocol).
    #[arg(long)]
    ready: bool,
    /// Publish to nchan: a file of publisher paths, one per viewer.
    #[arg(long)]
    publish: Option<PathBuf>,
    /// Events per second per published channel.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
}

struct Shared {
    server: SocketAddr,
    ready: bool,
    stats: Stats,
    connects: Semaphore,
    connected: AtomicUsize,
    /// Viewers that have caught up since the last drop.
    caught_up: AtomicUsize,
    /// Slowest catch-up since the last drop, in microseconds.
    slowest_catch_up: AtomicU64,
    /// Slowest reconnect (handshake done) since the last drop.
    slowest_back: AtomicU64,
}

pub async fn run(a: WorkerArgs) -> Result<()> {
    let urls: Vec<String> = std::fs::read_to_string(&a.urls)?
        .lines()
        .map(str::to_string)
        .collect();
    let shared = Arc::new(Shared {
        server: a.server,
        ready: a.ready,
        stats: Stats::new(),
        connects: Semaphore::new(CONNECTS_IN_FLIGHT),
        connected: AtomicUsize::new(0),
        caught_up: AtomicUsize::new(0),
        slowest_catch_up: AtomicU64::new(0),
        slowest_back: AtomicU64::new(0),
    });
    // A drop is a new generation: (generation, when it began in µs).
    let (drops, generation) = watch::channel((0u64, 0u64));
    for (i, url) in urls.iter().enumerate() {
        let source = source_for(a.source, i);
        tokio::spawn(viewer(
            shared.clone(),
            url.clone(),
            source,
            generation.clone(),
        ));
    }
    while shared.connected.load(Ordering::Relaxed) < urls.len() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(paths) = &a.publish {
        let paths: Vec<String> = std::fs::read_to_string(paths)?
            .lines()
            .map(str::to_string)
            .collect();
        Publisher::start(a.server, a.source, paths, a.rate);
    }
    println!("{{\"connected\":{}}}", urls.len());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(cmd) = lines.next_line().await? {
        match cmd.trim() {
            "stats" => println!("{}", shared.stats.take()),
            "drop" => {
                shared.caught_up.store(0, Ordering::Relaxed);
                shared.slowest_catch_up.store(0, Ordering::Relaxed);
                shared.slowest_back.store(0, Ordering::Relaxed);
                let (g, _) = *drops.borrow();
                drops.send_replace((g + 1, now_us()));
                while shared.caught_up.load(Ordering::Relaxed) < urls.len() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                println!(
                    "{{\"slowestCatchUpUs\":{},\"slowestBackUs\":{}}}",
                    shared.slowest_catch_up.load(Ordering::Relaxed),
                    shared.slowest_back.load(Ordering::Relaxed)
                );
            }
            "quit" | "" => break,
            other => eprintln!("worker: unknown command {other:?}"),
        }
    }
    Ok(())
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn connect(s: &Shared, source: IpAddr, url: &str) -> Result<Ws> {
    let _permit = s.connects.acquire().await?;
    let stream = super::connect_from(source, s.server).await?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .context("handshake")?;
    Ok(ws)
}

async fn viewer(
    s: Arc<Shared>,
    template: String,
    source: IpAddr,
    mut generation: watch::Receiver<(u64, u64)>,
) {
    let mut last_seq = 0u64;
    let mut first = true;
    loop {
        let url = template.replace("{seq}", &last_seq.to_string());
        let mut ws = loop {
            match connect(&s, source, &url).await {
                Ok(ws) => break ws,
                Err(e) => {
                    s.stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "connect failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        if s.ready && ws.send(Message::text(r#"{"type":"ready"}"#)).await.is_err() {
            continue;
        }
        if first {
            s.connected.fetch_add(1, Ordering::Relaxed);
            first = false;
        }
        let (_, dropped_at) = *generation.borrow_and_update();
        // Caught up once it holds every event published before it was back:
        // known when the first later one arrives; timed by the last earlier.
        let back_at = now_us();
        let mut catching_up = dropped_at != 0;
        let mut caught_at = back_at;
        if catching_up {
            s.slowest_back
                .fetch_max(back_at.saturating_sub(dropped_at), Ordering::Relaxed);
        }
        loop {
            tokio::select! {
                _ = generation.changed() => break,
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        let Some(p) = Probe::parse(t.as_str()) else { continue };
                        s.stats.record(&p, &mut last_seq);
                        match p.stamp_us {
                            Some(t) if catching_up && t < back_at => caught_at = now_us(),
                            Some(_) if catching_up => {
                                catching_up = false;
                                let took = caught_at.saturating_sub(dropped_at);
                                s.slowest_catch_up.fetch_max(took, Ordering::Relaxed);
                                s.caught_up.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {}
                        }
                    }
                    // The job is over: nothing more will come.
                    Some(Ok(Message::Close(_))) => return,
                    Some(Ok(_)) => {}
                    // The server closed (job over) or the socket broke:
                    // a real client reconnects with its lastSeq.
                    Some(Err(_)) | None => break,
                }
            }
        }
        // Dropped without a close frame, as a lost network would.
        drop(ws);
    }
}
