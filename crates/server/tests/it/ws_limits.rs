//! The limits on what sockets may hold, each at its edge: replies left
//! unread, sockets in total and per client address, viewers of an ended
//! job, and the token's expiry on an open socket.

use crate::common::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Starts `steps` synthetic steps `interval_ms` apart; returns (id, token).
async fn job(srv: &TestServer, steps: u64, interval_ms: u64) -> (String, String) {
    let (status, body) = srv
        .post_json(
            "/api/synthetic/jobs",
            &json!({"count": 1, "steps": steps, "intervalMs": interval_ms}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let j = &body["data"]["jobs"][0];
    (
        j["jobId"].as_str().unwrap().into(),
        j["token"].as_str().unwrap().into(),
    )
}

/// A refused upgrade's status, `Retry-After` and error code.
async fn refusal(url: String) -> (u16, Option<String>, Value) {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => panic!("upgrade unexpectedly accepted"),
        Err(WsError::Http(resp)) => {
            let retry = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let body = resp
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                .unwrap_or(Value::Null);
            (resp.status().as_u16(), retry, body["error"]["code"].clone())
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// Connects until the server takes the socket (one held was let go).
async fn eventually_connects(url: &str) -> Ws {
    for _ in 0..200 {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(url).await {
            return ws;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never accepted again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_floods_pings_and_never_reads_is_closed_1008() {
    let srv = TestServer::start(|c| c.synthetic_jobs = true).await;
    let (id, token) = job(&srv, 2, 3_600_000).await;
    let mut ws = connect_unread(&srv.ws_url(&format!("jobId={id}&token={token}"))).await;
    // As on /ws/jobs (tests/it/mux.rs): ~19 MB of pongs never read, far
    // more than the server's send buffer (at most 4 MiB, `tcp_wmem`), the
    // client's 8 KiB and the 256 replies allowed.
    let batch: Vec<Message> = (0..200_000)
        .map(|_| Message::text(r#"{"type":"ping"}"#))
        .collect();
    let mut stream = futures_util::stream::iter(batch.into_iter().map(Ok));
    let _ = tokio::time::timeout(Duration::from_secs(60), ws.send_all(&mut stream)).await;
    let mut pongs = 0;
    let code = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            match next_json(&mut ws).await {
                Ok(_) => pongs += 1,
                Err(code) => break code,
            }
        }
    })
    .await
    .expect("the server closed the flooding socket");
    assert_eq!(code, Some(1008), "after {pongs} pongs");
    assert!(pongs < 200_000, "closed before answering everything");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_past_the_servers_total_get_503() {
    let srv = TestServer::start(|c| {
        c.synthetic_jobs = true;
        c.max_sockets = 2;
    })
    .await;
    let (id, token) = job(&srv, 2, 3_600_000).await;
    let url = srv.ws_url(&format!("jobId={id}&token={token}"));
    let first = srv.connect(&id, &token, "").await;
    let _second = MuxClient::connect(&srv.url, None).await;
    let (status, retry, code) = refusal(url.clone()).await;
    assert_eq!((status, code.as_str()), (503, Some("TOO_MANY_CONNECTIONS")));
    assert!(retry.is_some(), "with Retry-After");
    let mux_url = format!("{}/ws/jobs", srv.url.replace("http://", "ws://"));
    assert_eq!(refusal(mux_url).await.0, 503, "/ws/jobs counts the same");
    drop(first);
    eventually_connects(&url).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_past_a_clients_limit_get_429_with_retry_after() {
    let srv = TestServer::start(|c| {
        c.synthetic_jobs = true;
        c.max_sockets_per_client = 2;
    })
    .await;
    let (id, token) = job(&srv, 2, 3_600_000).await;
    let url = srv.ws_url(&format!("jobId={id}&token={token}"));
    let first = srv.connect(&id, &token, "").await;
    let _second = srv.connect(&id, &token, "").await;
    let (status, retry, code) = refusal(url.clone()).await;
    assert_eq!((status, code.as_str()), (429, Some("TOO_MANY_CONNECTIONS")));
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!(secs >= 1);
    drop(first);
    eventually_connects(&url).await;
    srv.stop().await;
}

/// A viewer whose receive buffer is tiny and who never reads: the server
/// cannot finish sending it the replay, so it stays connected.
async fn stuck_viewer(srv: &TestServer, url: &str) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(srv.addr).await.unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    tokio_tungstenite::client_async(url, stream)
        .await
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_job_has_the_same_viewer_limit_as_a_live_one() {
    let srv = TestServer::start(|c| {
        c.synthetic_jobs = true;
        c.ready_timeout = Duration::ZERO;
        c.max_viewers_per_job = 2;
    })
    .await;
    // ~1,000 retained events: more than a stalled socket takes.
    let (id, token) = job(&srv, 1500, 0).await;
    srv.wait_terminal(&id, &token).await;
    let url = srv.ws_url(&format!("jobId={id}&token={token}"));
    let first = stuck_viewer(&srv, &url).await;
    let _second = stuck_viewer(&srv, &url).await;
    let (status, _, code) = refusal(url.clone()).await;
    assert_eq!((status, code.as_str()), (429, Some("TOO_MANY_CONNECTIONS")));
    let mut mux = MuxClient::connect(&srv.url, None).await;
    mux.subscribe(&id, &token, 0).await;
    let e = mux.notice("error").await;
    assert_eq!(e["payload"]["error"]["code"], "TOO_MANY_CONNECTIONS", "{e}");
    drop(first);
    eventually_connects(&url).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_whose_token_expires_is_closed_4001() {
    let srv = TestServer::start(|c| {
        c.synthetic_jobs = true;
        c.token_ttl = Duration::from_secs(2);
        c.token_refresh_window = Duration::from_secs(2);
    })
    .await;
    let (id, token) = job(&srv, 2, 3_600_000).await;
    let mut ws = srv.connect(&id, &token, "").await;
    send_ready(&mut ws).await;
    let (_, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(4001));
    srv.stop().await;
}
