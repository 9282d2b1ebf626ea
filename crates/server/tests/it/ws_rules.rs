//! RFC 6455 rules at the edge, over a raw TCP connection (a WebSocket
//! library would refuse to send what these tests send): close codes and
//! reasons, the 64-bit length's top bit, the upgrade's headers, and the
//! close a socket gets when it stops answering pings.

use super::ws_wire::server_with_job;
use crate::common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends `GET path` with `headers` and returns the head of the answer
/// (status line and headers, lowercased) and the stream.
async fn request(srv: &TestServer, path: &str, headers: &str) -> (String, TcpStream) {
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\n{headers}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b))
            .await
            .expect("an answer")
            .unwrap();
        assert_eq!(n, 1, "closed before the head ended: {head:?}");
        head.push(b[0]);
    }
    (String::from_utf8_lossy(&head).to_lowercase(), s)
}

/// An upgraded socket of the job, spoken to byte by byte.
async fn raw_socket(srv: &TestServer, id: &str, token: &str) -> TcpStream {
    let headers = format!(
        "Host: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n",
        srv.addr
    );
    let path = format!("/ws/progress?jobId={id}&token={token}");
    let (head, s) = request(srv, &path, &headers).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    s
}

/// A masked client frame, FIN set.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [9, 8, 7, 6];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads server frames until a close; returns the opcodes seen before it
/// and the close's code and reason.
async fn until_close(s: &mut TcpStream) -> (Vec<u8>, u16, String) {
    let mut seen = Vec::new();
    loop {
        let mut h = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(20), s.read_exact(&mut h))
            .await
            .expect("a frame within 20 s")
            .expect("the connection stays until the close frame");
        let len = match h[1] & 0x7f {
            126 => s.read_u16().await.unwrap() as usize,
            127 => s.read_u64().await.unwrap() as usize,
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).await.unwrap();
        let opcode = h[0] & 0x0f;
        if opcode == 0x8 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            return (seen, code, String::from_utf8_lossy(&payload[2..]).into());
        }
        seen.push(opcode);
    }
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_close_codes_get_1002_never_an_echo_and_a_bad_reason_1007() {
    let (srv, id, token) = server_with_job().await;
    let cases: [(u16, &[u8], u16); 12] = [
        (0, b"", 1002),
        (999, b"", 1002),
        (1004, b"", 1002),
        (1005, b"", 1002),
        (1006, b"", 1002),
        (1015, b"", 1002),
        (1016, b"", 1002),
        (2999, b"", 1002),
        (1000, &[0xff, 0xfe], 1007),
        // Allowed codes are echoed.
        (1000, b"bye", 1000),
        (1013, b"", 1013),
        (4000, b"", 4000),
    ];
    for (sent, reason, want) in cases {
        let mut s = raw_socket(&srv, &id, &token).await;
        s.write_all(&frame(0x8, &close_payload(sent, reason)))
            .await
            .unwrap();
        let (_, code, _) = until_close(&mut s).await;
        assert_eq!(code, want, "client close {sent} {reason:?}");
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_bit_length_with_its_top_bit_set_closes_1002() {
    let (srv, id, token) = server_with_job().await;
    let mut s = raw_socket(&srv, &id, &token).await;
    let mut f = vec![0x81, 0x80 | 127];
    f.extend_from_slice(&(1u64 << 63 | 3).to_be_bytes());
    f.extend_from_slice(&[0; 4]);
    s.write_all(&f).await.unwrap();
    let (_, code, reason) = until_close(&mut s).await;
    assert_eq!(code, 1002, "{reason}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_needs_host_one_16_byte_key_and_version_13() {
    let (srv, id, token) = server_with_job().await;
    let path = format!("/ws/progress?jobId={id}&token={token}");
    let host = format!("Host: {}\r\n", srv.addr);
    let up = "Connection: Upgrade\r\nUpgrade: websocket\r\n";
    let v13 = "Sec-WebSocket-Version: 13\r\n";
    let key = format!("Sec-WebSocket-Key: {KEY}\r\n");
    let cases = [
        (format!("{up}{v13}{key}"), "400"),
        (format!("{host}{host}{up}{v13}{key}"), "400"),
        (format!("{host}{up}{v13}{key}{key}"), "400"),
        // 15 bytes, and not base64.
        (
            format!("{host}{up}{v13}Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n"),
            "400",
        ),
        (
            format!("{host}{up}{v13}Sec-WebSocket-Key: not-a-key\r\n"),
            "400",
        ),
        (
            format!("{host}{up}Sec-WebSocket-Version: 8\r\n{key}"),
            "426",
        ),
        (format!("{host}{up}{key}"), "426"),
    ];
    for (headers, want) in cases {
        let (head, _) = request(&srv, &path, &headers).await;
        assert!(
            head.starts_with(&format!("http/1.1 {want}")),
            "{headers:?}: {head}"
        );
        if want == "426" {
            assert!(head.contains("sec-websocket-version: 13\r\n"), "{head}");
        }
    }
    // And the well-formed request still upgrades.
    raw_socket(&srv, &id, &token).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_answers_a_ping_gets_a_close_frame_1001() {
    let srv = TestServer::start(|c| {
        c.synthetic_jobs = true;
        c.ws_ping_interval = Duration::from_secs(1);
        c.ws_pong_timeout = Duration::from_secs(1);
    })
    .await;
    let (_, body) = srv
        .post_json(
            "/api/synthetic/jobs",
            &serde_json::json!({"count": 1, "steps": 2, "intervalMs": 3_600_000}),
        )
        .await;
    let job = &body["data"]["jobs"][0];
    let (id, token) = (
        job["jobId"].as_str().unwrap(),
        job["token"].as_str().unwrap(),
    );
    let mut s = raw_socket(&srv, id, token).await;
    // Never a pong: the server pings, then closes with a frame.
    let (seen, code, reason) = until_close(&mut s).await;
    assert!(seen.contains(&0x9), "pinged first: {seen:?}");
    assert_eq!((code, reason.as_str()), (1001, "ping timeout"));
    srv.stop().await;
}
