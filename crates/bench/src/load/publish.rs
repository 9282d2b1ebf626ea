//! Publishing over HTTP for the side-by-side runs: POSTs on keep-alive
//! connections, each stamped with its publish time. To nchan (a path per
//! line) each message is the envelope BooksTrack sends, so both carry the
//! same bytes; to an external job of ours (a line `PATH KEY`, the publisher
//! API of docs/PROTOCOL.md §21) it is the same progress as a published
//! event, whose envelope the server builds.

use bookstrack_protocol::{MessageFactory, Pipeline, ProgressUpdate};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;

/// Keep-alive connections per worker that share its channels.
const PUBLISH_CONNECTIONS: usize = 8;

pub struct Publisher;

impl Publisher {
    /// Publishes to every path at `rate` messages per second, until the
    /// process exits.
    pub fn start(server: SocketAddr, source: IpAddr, paths: Vec<String>, rate: f64) {
        let n = PUBLISH_CONNECTIONS.min(paths.len()).max(1);
        for k in 0..n {
            let mine: Vec<String> = paths.iter().skip(k).step_by(n).cloned().collect();
            tokio::spawn(async move {
                if let Err(e) = publish(server, source, mine, rate).await {
                    eprintln!("publisher stopped: {e}");
                }
            });
        }
    }
}

async fn publish(
    server: SocketAddr,
    source: IpAddr,
    paths: Vec<String>,
    rate: f64,
) -> std::io::Result<()> {
    let stream = super::connect_from(source, server).await?;
    let (r, mut w) = stream.into_split();
    // Pipelined: the POSTs go out on their schedule, not one round trip
    // after another, so a slow response cannot lower the offered rate.
    let responses = tokio::spawn(read_responses(BufReader::new(r)));
    let period = Duration::from_secs_f64(1.0 / (rate * paths.len() as f64));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let targets: Vec<(&str, Option<&str>)> = paths
        .iter()
        .map(|l| match l.split_once(' ') {
            Some((path, key)) => (path, Some(key)),
            None => (l.as_str(), None),
        })
        .collect();
    let factories: Vec<MessageFactory> = targets
        .iter()
        .map(|(p, _)| MessageFactory::new(p.rsplit('/').next().unwrap_or(p), Pipeline::CsvImport))
        .collect();
    let mut seqs = vec![0u64; paths.len()];
    for i in (0..paths.len()).cycle() {
        tick.tick().await;
        if responses.is_finished() {
            return responses.await.map_err(std::io::Error::other)?;
        }
        seqs[i] += 1;
        let seq = seqs[i];
        let stamp = super::stats::now_us();
        let (path, key) = targets[i];
        let (msg, auth) = match key {
            None => (
                factories[i]
                    .progress(
                        seq,
                        (stamp / 1000) as i64,
                        ProgressUpdate {
                            progress: 0.5,
                            status: format!("Step {seq} of 100000"),
                            books_processed: Some(seq),
                            total_books: Some(100_000),
                            current_title: Some(stamp.to_string()),
                        },
                    )
                    .to_json(),
                String::new(),
            ),
            Some(key) => (
                format!(
                    r#"{{"events":[{{"type":"progress","status":"Step {seq} of 100000","booksProcessed":{seq},"currentTitle":"{stamp}"}}]}}"#
                ),
                format!("Authorization: Bearer {key}\r\n"),
            ),
        };
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{msg}",
            msg.len()
        );
        w.write_all(req.as_bytes()).await?;
    }
    Ok(())
}

/// Reads and drops the responses: status line and headers, then the body
/// by its length.
async fn read_responses(mut r: BufReader<OwnedReadHalf>) -> std::io::Result<()> {
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        let mut length = 0usize;
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l
                .split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            {
                length = v.1.trim().parse().unwrap_or(0);
            }
        }
        body.resize(length, 0);
        r.read_exact(&mut body).await?;
    }
}
