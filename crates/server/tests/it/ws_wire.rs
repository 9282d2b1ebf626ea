//! The WebSocket wire itself: the upgrade checks, the client message size
//! limit at its edge, protocol pings and the close handshake.

use crate::common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const MAX: usize = 4096;

/// A server with one synthetic job that runs for an hour.
pub(crate) async fn server_with_job() -> (TestServer, String, String) {
    let srv = TestServer::start(|c| {
        c.synthetic_jobs = true;
        c.max_ws_message_bytes = MAX;
    })
    .await;
    let (status, body) = srv
        .post_json(
            "/api/synthetic/jobs",
            &json!({"count": 1, "steps": 2, "intervalMs": 3_600_000}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job = &body["data"]["jobs"][0];
    let id = job["jobId"].as_str().unwrap().to_string();
    let token = job["token"].as_str().unwrap().to_string();
    (srv, id, token)
}

/// A `ping` message padded to exactly `len` bytes.
fn ping_of_len(len: usize) -> String {
    let bare = json!({"type": "ping", "pad": ""}).to_string();
    json!({"type": "ping", "pad": "x".repeat(len - bare.len())}).to_string()
}

/// Reads until a `pong` message; fails on close.
async fn expect_pong(ws: &mut Ws) {
    loop {
        match next_json(ws).await {
            Ok(v) if v["type"] == "pong" => return,
            Ok(_) => {}
            Err(code) => panic!("closed with {code:?} instead of answering"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_of_the_limit_is_answered_and_one_byte_more_closes_1009() {
    let (srv, id, token) = server_with_job().await;
    let mut ws = srv.connect(&id, &token, "").await;
    let at_limit = ping_of_len(MAX);
    assert_eq!(at_limit.len(), MAX);
    ws.send(Message::text(at_limit)).await.unwrap();
    expect_pong(&mut ws).await;

    ws.send(Message::text(ping_of_len(MAX + 1))).await.unwrap();
    let (_, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(1009));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_pings_get_pongs_with_their_payload() {
    let (srv, id, token) = server_with_job().await;
    let mut ws = srv.connect(&id, &token, "").await;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Pong(p) = m {
                return p;
            }
        }
        panic!("no pong")
    })
    .await
    .unwrap();
    assert_eq!(&pong[..], b"are you there");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_close_is_echoed() {
    let (srv, id, token) = server_with_job().await;
    let mut ws = srv.connect(&id, &token, "").await;
    ws.close(None).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(m) = ws.next().await {
            if m.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the close handshake completes");
    srv.stop().await;
}

/// Sends a raw request and returns the status line and body; `headers`
/// must ask for the connection to close after the answer.
pub(crate) async fn raw_request(srv: &TestServer, path: &str, headers: &str) -> (String, Value) {
    let addr = srv.url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_upgrades_are_refused_with_a_reason() {
    let (srv, id, token) = server_with_job().await;
    let path = format!("/ws/progress?jobId={id}&token={token}");
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases = [
        ("Connection: close\r\n".to_string(), "Connection"),
        (
            format!(
                "Connection: close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n{key}"
            ),
            "Connection",
        ),
        (
            format!(
                "Connection: upgrade, close\r\nUpgrade: h2c\r\nSec-WebSocket-Version: 13\r\n{key}"
            ),
            "Upgrade",
        ),
        (
            "Connection: upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                .to_string(),
            "Key",
        ),
    ];
    for (headers, mentions) in cases {
        let (status, body) = raw_request(&srv, &path, &headers).await;
        assert!(status.contains(" 400 "), "{headers:?}: {status}");
        assert_eq!(body["error"]["code"], "INVALID_REQUEST");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(mentions),
            "{body}"
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accept_key_is_the_rfc_one() {
    let (srv, id, token) = server_with_job().await;
    let addr = srv.url.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "GET /ws/progress?jobId={id}&token={token} HTTP/1.1\r\nHost: {addr}\r\n\
         Connection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    // The example of RFC 6455 §1.3.
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    srv.stop().await;
}
