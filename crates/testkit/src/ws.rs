//! Viewers: connecting to `/ws/progress` and reading what the server sends.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A viewer of `job` on the server at `url` (`http://…`), resuming after
/// `last_seq`; sends `ready` at once when asked to.
pub async fn connect(url: &str, job: &str, token: &str, last_seq: u64, ready: bool) -> Ws {
    let ws_url = format!(
        "{}/ws/progress?jobId={job}&token={token}&lastSeq={last_seq}",
        url.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    if ready {
        send_ready(&mut ws).await;
    }
    ws
}

/// Next job event (a message with a seq, or job_state); `None` at close.
pub async fn next_event(ws: &mut Ws) -> Option<Value> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("an event within 60 s")?;
        match m {
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["seq"].is_u64() || v["type"] == "job_state" {
                    return Some(v);
                }
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

pub async fn send_ready(ws: &mut Ws) {
    ws.send(Message::text(r#"{"type":"ready"}"#)).await.unwrap();
}

/// Next text message as JSON; `None` on close (with its code).
pub async fn next_json(ws: &mut Ws) -> Result<Value, Option<u16>> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a message within 30 s");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return Err(None),
        }
    }
}

/// The next `n` job events (messages with a `seq`), skipping control messages.
pub async fn next_events(ws: &mut Ws, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let m = next_json(ws).await.expect("socket open");
        if m["seq"].is_u64() {
            out.push(m);
        }
    }
    out
}

/// Every message until the server closes, and the close code.
pub async fn read_to_close(ws: &mut Ws) -> (Vec<Value>, Option<u16>) {
    let mut out = Vec::new();
    loop {
        match next_json(ws).await {
            Ok(v) => out.push(v),
            Err(code) => return (out, code),
        }
    }
}

/// The seqs of job events, asserting they run from `from` with no gap or repeat.
pub fn assert_contiguous(events: &[Value], from: u64) -> u64 {
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    let expected: Vec<u64> = (from..from + seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "seqs must be contiguous from {from}");
    seqs.last().copied().unwrap_or(from - 1)
}

pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub fn close_code(c: CloseCode) -> u16 {
    u16::from(c)
}

/// A WebSocket to `url` (`ws://…`) whose kernel receive buffer is the
/// smallest Linux allows (it doubles the 4 KiB asked, with no autotuning),
/// so that what the client leaves unread backs up at the server, as a slow
/// phone's would, instead of in up to 32 MiB of loopback buffer
/// (`net.ipv4.tcp_rmem`): the unread-replies tests depend on it.
pub async fn connect_unread(url: &str) -> Ws {
    let addr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .expect("a host:port")
        .parse()
        .expect("an address");
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let tcp = socket.connect(addr).await.expect("connects");
    let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
        .await
        .expect("websocket connects");
    ws
}
