//! permessage-deflate on the wire, by a raw client: the offer answered
//! with no context takeover, events compressed (RSV1) and inflating to the
//! very JSON a plain client reads, a compressed client message answered,
//! and a deflate bomb closed with 1009 before it can grow.

use crate::common::*;
use flate2::{Compress, Compression, FlushCompress};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX: usize = 4096;

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    while c.total_in() < data.len() as u64 {
        out.reserve(out.capacity());
        let at = c.total_in() as usize;
        c.compress_vec(&data[at..], &mut out, FlushCompress::Sync)
            .unwrap();
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn inflate(data: &[u8]) -> Vec<u8> {
    let mut d = flate2::Decompress::new(false);
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(64 * 1024);
    d.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
        .unwrap();
    out
}

/// A masked client text frame, RSV1 set when `compressed`.
fn client_frame(payload: &[u8], compressed: bool) -> Vec<u8> {
    let mut f = vec![0x81 | if compressed { 0x40 } else { 0 }];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 65535 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = [1, 2, 3, 4];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads one server frame: (rsv1, opcode, payload).
async fn server_frame(s: &mut TcpStream) -> (bool, u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.unwrap();
    let len = match h[1] & 0x7f {
        126 => s.read_u16().await.unwrap() as usize,
        127 => s.read_u64().await.unwrap() as usize,
        n => n as usize,
    };
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).await.unwrap();
    (h[0] & 0x40 != 0, h[0] & 0x0f, p)
}

/// A socket upgraded with a deflate offer; the 101's headers, lowercased.
async fn upgrade(srv: &TestServer, path: &str) -> (TcpStream, String) {
    let addr = srv.url.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(s.read_u8().await.unwrap());
    }
    (s, String::from_utf8_lossy(&head).to_lowercase())
}

async fn job(srv: &TestServer, steps: u64, interval_ms: u64) -> (String, String) {
    synthetic_jobs(&srv.url, 1, steps, interval_ms)
        .await
        .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_compressed_and_inflate_to_the_plain_json() {
    let srv = TestServer::start(|c| c.synthetic_jobs = true).await;
    let (id, token) = job(&srv, 5, 1).await;
    let mut plain = connect(&srv.url, &id, &token, 0, true).await;
    let (plain_events, _) = read_to_close(&mut plain).await;
    let plain_events: Vec<Value> = plain_events
        .into_iter()
        .filter(|e| e["seq"].is_u64())
        .collect();

    let (mut s, head) = upgrade(&srv, &format!("/ws/progress?jobId={id}&token={token}")).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        "{head}"
    );
    let mut events = Vec::new();
    loop {
        let (rsv1, op, p) = server_frame(&mut s).await;
        if op == 8 {
            assert!(!rsv1, "control frames are never compressed");
            break;
        }
        assert!(rsv1 && op == 1, "an event is a compressed text frame");
        events.push(serde_json::from_slice::<Value>(&inflate(&p)).unwrap());
    }
    assert_eq!(events, plain_events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_request_is_answered_and_a_bomb_closes_1009() {
    let srv = TestServer::start(|c| {
        c.synthetic_jobs = true;
        c.max_ws_message_bytes = MAX;
    })
    .await;
    let (mut s, head) = upgrade(&srv, "/ws/jobs").await;
    assert!(head.contains("permessage-deflate"), "{head}");
    let ping = deflate(br#"{"type":"ping"}"#);
    s.write_all(&client_frame(&ping, true)).await.unwrap();
    let (_, op, p) = server_frame(&mut s).await;
    assert_eq!(op, 1);
    let pong: Value = serde_json::from_slice(&p).unwrap();
    assert_eq!(pong["type"], "pong", "{pong}");

    // 3 MiB of spaces in a JSON string: 3 KiB on the wire, 768 times
    // the message limit once inflated (deflate tops out near 1000:1).
    let mut bomb = br#"{"type":"ping","pad":""#.to_vec();
    bomb.resize(3 << 20, b' ');
    let z = deflate(&bomb);
    assert!(z.len() < MAX, "the bomb fits the wire limit: {}", z.len());
    s.write_all(&client_frame(&z, true)).await.unwrap();
    let (_, op, p) = server_frame(&mut s).await;
    assert_eq!(op, 8, "a close");
    assert_eq!(u16::from_be_bytes([p[0], p[1]]), 1009);
}
