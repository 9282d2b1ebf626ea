//! The floor of `bench live` (`bench floor`, started by `bench live
//! --floor`): the least any server could do for the same viewers. It
//! answers the WebSocket handshake, then writes each socket an event of the
//! same shape and size as a synthetic job's, paced and spread as those
//! are, and does nothing else: no jobs, no tokens, no storage, no runtime.
//! What it delivers, and how late, read by the same load-generator
//! processes, is the most this machine can do for the load.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

#[derive(Args, Debug)]
pub struct FloorArgs {
    /// Viewers to accept before the first event is sent.
    #[arg(long)]
    viewers: usize,
    /// Events per second per viewer.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Sender threads, each writing to its share of the sockets (the
    /// server's runtime has one worker per core).
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// Longest handshake request read; the load generator's are ~250 bytes.
const MAX_REQUEST: usize = 4096;

/// Handshakes are read one at a time: a peer that connects and says nothing
/// must not hold up the others for longer than this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(a: FloorArgs) -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let mut sockets = Vec::with_capacity(a.viewers);
    while sockets.len() < a.viewers {
        let (s, _) = listener.accept()?;
        match handshake(s) {
            Ok(s) => sockets.push(s),
            Err(e) => eprintln!("floor: handshake failed: {e:#}"),
        }
    }
    let threads = a.threads.clamp(1, sockets.len().max(1));
    let mut shares: Vec<Vec<TcpStream>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in sockets.into_iter().enumerate() {
        shares[i % threads].push(s);
    }
    let start = Instant::now();
    let start_us = super::stats::now_us();
    let senders: Vec<_> = shares
        .into_iter()
        .enumerate()
        .map(|(t, share)| {
            let phase = t as f64 / threads as f64;
            let rate = a.rate;
            std::thread::spawn(move || send(share, rate, phase, start, start_us))
        })
        .collect();
    for s in senders {
        let _ = s.join();
    }
    Ok(())
}

/// Reads the upgrade request and accepts it, whatever its path.
fn handshake(mut s: TcpStream) -> Result<TcpStream> {
    s.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_REQUEST {
            bail!("request over {MAX_REQUEST} bytes");
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            bail!("closed during the handshake");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let request = std::str::from_utf8(&buf)?;
    let key = request
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, v)| v.trim())
        .context("no Sec-WebSocket-Key")?;
    write!(
        s,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    )?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Event `j` of this share goes to socket `j % n`, due at `(j + phase) /
/// (n × rate)` seconds after `start`: every socket at `rate`, spread evenly.
/// Each event is stamped with when it was due, not when it was written, so
/// a sender that falls behind shows as latency, not as a lower rate.
fn send(mut sockets: Vec<TcpStream>, rate: f64, phase: f64, start: Instant, start_us: u64) {
    let n = sockets.len();
    if n == 0 {
        return;
    }
    let step_ns = 1e9 / (n as f64 * rate);
    let mut seq = vec![0u64; n];
    let mut alive = vec![true; n];
    let mut frame = Vec::with_capacity(512);
    let mut j = 0u64;
    loop {
        let due_ns = ((j as f64 + phase) * step_ns) as u64;
        let now_ns = start.elapsed().as_nanos() as u64;
        if due_ns > now_ns {
            std::thread::sleep(Duration::from_nanos((due_ns - now_ns).min(1_000_000)));
            continue;
        }
        let k = (j % n as u64) as usize;
        j += 1;
        if !alive[k] {
            continue;
        }
        seq[k] += 1;
        event(&mut frame, k, seq[k], start_us + due_ns / 1000);
        if sockets[k].write_all(&frame).is_err() {
            alive[k] = false;
            if !alive.iter().any(|a| *a) {
                return;
            }
        }
    }
}

/// A text frame holding a `job_progress` envelope as the server writes it.
fn event(frame: &mut Vec<u8>, socket: usize, seq: u64, stamp_us: u64) {
    frame.clear();
    frame.extend_from_slice(&[0x81, 126, 0, 0]);
    let step = seq % 100 + 1;
    let _ = write!(
        frame,
        r#"{{"type":"job_progress","jobId":"00000000-0000-7000-8000-{socket:012}","pipeline":"csv_import","timestamp":{},"version":"1.0.0","seq":{seq},"payload":{{"type":"job_progress","progress":{:.2},"status":"Step {step} of 100","booksProcessed":{step},"totalBooks":100,"currentTitle":"{stamp_us}"}}}}"#,
        stamp_us / 1000,
        step as f64 / 100.0,
    );
    // Every payload is 126–65,535 bytes: a 16-bit length.
    let len = (frame.len() - 4) as u16;
    frame[2..4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_text_frame_the_load_generator_reads() {
        let mut f = Vec::new();
        event(&mut f, 7, 42, 1_795_344_524_759_687);
        assert_eq!(&f[..2], &[0x81, 126]);
        assert_eq!(u16::from_be_bytes([f[2], f[3]]) as usize, f.len() - 4);
        let text = std::str::from_utf8(&f[4..]).unwrap();
        let p = super::super::stats::Probe::parse(text).expect("parses");
        assert_eq!(p.seq, Some(42));
        assert_eq!(p.stamp_us, Some(1_795_344_524_759_687));
    }
}
