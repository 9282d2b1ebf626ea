//! Resume by `lastSeq`, retention, token refresh, write throttling, slow and
//! dead viewers, and shutdown.

use crate::common::*;
use bookstrack_server::config::Throttle;
use bookstrack_server::pipelines::synthetic::Synthetic;
use bookstrack_server::pipelines::JobSpec;
use bookstrack_server::App;
use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;

async fn synthetic(srv: &TestServer, steps: u64, interval_ms: u64) -> (String, String) {
    let s = Synthetic {
        steps,
        interval: Duration::from_millis(interval_ms),
        fail_after: None,
        stamp: false,
        phase: None,
    };
    let started = srv
        .app
        .start_job(App::new_job_id(), JobSpec::Synthetic(s), None)
        .await
        .unwrap();
    (started.job_id, started.token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_by_last_seq_has_no_gap_and_no_duplicate() {
    let srv = TestServer::start(|_| {}).await;
    let (job, token) = synthetic(&srv, 40, 5).await;
    let mut ws = srv.connect(&job, &token, "").await;
    send_ready(&mut ws).await;
    let seen = next_events(&mut ws, 10).await;
    drop(ws);
    let last = assert_contiguous(&seen, 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut ws = srv.connect(&job, &token, &format!("&lastSeq={last}")).await;
    let (rest, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(CLOSE_NORMAL));
    assert!(
        rest.iter().all(|m| m["type"] != "job_state"),
        "retention covers the gap"
    );
    let end = assert_contiguous(&rest, last + 1);
    assert_eq!(rest.last().unwrap()["type"], "job_complete");
    assert_eq!(end, 42, "job_started + 40 progress + job_complete");

    // A viewer resuming after the end still gets what it missed, then 1000.
    let mut ws = srv.connect(&job, &token, "&lastSeq=39").await;
    let (tail, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(CLOSE_NORMAL));
    assert_contiguous(&tail, 40);
    // One that has everything is closed normally at once.
    let mut ws = srv.connect(&job, &token, "&lastSeq=42").await;
    let (none, code) = read_to_close(&mut ws).await;
    assert!(none.is_empty());
    assert_eq!(code, Some(CLOSE_NORMAL));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_past_retention_gets_job_state_first() {
    let srv = TestServer::start(|c| {
        c.event_retention = 5;
        c.replay_cache = 3;
        c.ready_timeout = Duration::ZERO;
    })
    .await;
    let (job, token) = synthetic(&srv, 30, 0).await;
    let state = srv.wait_terminal(&job, &token).await;
    assert_eq!(state["lastSeq"], 32);
    let mut ws = srv.connect(&job, &token, "&lastSeq=2").await;
    let (msgs, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(CLOSE_NORMAL));
    assert_eq!(msgs[0]["type"], "job_state");
    assert_eq!(msgs[0]["payload"]["state"]["lastSeq"], 32);
    assert_eq!(msgs[0]["payload"]["state"]["status"], "complete");
    // Labelled with the job's own pipeline.
    assert_eq!(msgs[0]["pipeline"], "synthetic");
    assert_contiguous(&msgs[1..], 28);
    assert_eq!(msgs.last().unwrap()["type"], "job_complete");

    // Within retention there is no snapshot.
    let mut ws = srv.connect(&job, &token, "&lastSeq=27").await;
    let (msgs, _) = read_to_close(&mut ws).await;
    assert_eq!(msgs[0]["seq"], 28);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_resume_past_the_replay_cache_reads_the_log() {
    let srv = TestServer::start(|c| c.replay_cache = 2).await;
    let (job, token) = synthetic(&srv, 60, 10).await;
    let mut ws = srv.connect(&job, &token, "").await;
    send_ready(&mut ws).await;
    next_events(&mut ws, 3).await;
    drop(ws);
    let (_, state) = srv
        .get(&format!("/api/job-state/{job}"), Some(&token))
        .await;
    assert!(
        state["lastSeq"].as_u64().unwrap() >= 3,
        "job-state is the owner's live state, not the throttled checkpoint: {state}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ws = srv.connect(&job, &token, "&lastSeq=3").await;
    let (rest, _) = read_to_close(&mut ws).await;
    assert_eq!(
        rest[0]["seq"], 4,
        "served from the log, not the 2-frame cache"
    );
    assert_contiguous(&rest, 4);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_have_exactly_one_winner() {
    let srv = TestServer::start(|c| {
        c.token_ttl = Duration::from_secs(600);
        c.token_refresh_window = Duration::from_secs(600);
    })
    .await;
    let (job, token) = srv.start_import(&goodreads_csv(3, &[])).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, url, job, token) = (
            srv.http.clone(),
            srv.url.clone(),
            job.clone(),
            token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({"jobId": job, "oldToken": token});
            post_json(&http, &url, "/api/token/refresh", &body).await
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (s, body) = t.await.unwrap();
        match s {
            200 => winners.push(body),
            409 => assert_eq!(body["error"]["code"], "CONFLICT"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one refresh wins");
    let w = &winners[0];
    let map: std::collections::HashMap<String, String> =
        serde_json::from_value(w.clone()).expect("all values are strings");
    assert_eq!(map["jobId"], job);
    let new_token = map["token"].clone();
    assert!(map["expiresAt"].parse::<i64>().unwrap() > 0);

    let (s, _) = srv.refused(&format!("jobId={job}&token={token}")).await;
    assert_eq!(s, 401, "the replaced token stops working");
    let (s, _) = srv
        .get(&format!("/api/job-state/{job}"), Some(&token))
        .await;
    assert_eq!(s, 401);
    let (s, _) = srv
        .get(&format!("/api/job-state/{job}"), Some(&new_token))
        .await;
    assert_eq!(s, 200);
    let mut ws = srv.connect(&job, &new_token, "").await;
    send_ready(&mut ws).await;
    let (_, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(CLOSE_NORMAL));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_outside_the_window_or_with_a_bad_token_is_refused() {
    let srv = TestServer::start(|_| {}).await;
    let (job, token) = srv.start_import(&goodreads_csv(3, &[])).await;
    let server = &srv; // a shared borrow keeps the closure callable again
    let post = |body: Value| async move { server.post_json("/api/token/refresh", &body).await };
    let (s, b) = post(serde_json::json!({"jobId": job, "oldToken": token})).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("REFRESH_TOO_EARLY"))
    );
    let (s, _) = post(serde_json::json!({"jobId": job, "oldToken": "bad"})).await;
    assert_eq!(s, 401);
    let (s, _) = post(serde_json::json!({"jobId": "nope", "oldToken": token})).await;
    assert_eq!(s, 404);
    let (s, b) = post(serde_json::json!({"job": 1})).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_writes_follow_the_throttle() {
    let srv = TestServer::start(|c| {
        c.throttle_override = Some(Throttle {
            updates: 5,
            interval: Duration::from_secs(3600),
        });
        c.ready_timeout = Duration::ZERO;
    })
    .await;
    let (job, token) = synthetic(&srv, 50, 0).await;
    let state = srv.wait_terminal(&job, &token).await;
    let m = &srv.app.jobs.metrics;
    // Start, then one write per 5 of the 50 progress updates, then the end.
    assert_eq!(m.state_writes.get(), 1 + 10 + 1);
    assert_eq!(m.state_updates.get(), 1 + 50 + 1);
    assert_eq!(
        state["version"],
        1 + 12,
        "version counts every persisted change"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_also_written_when_the_interval_passes() {
    let srv = TestServer::start(|c| {
        c.throttle_override = Some(Throttle {
            updates: 1000,
            interval: Duration::from_millis(250),
        });
        c.ready_timeout = Duration::ZERO;
    })
    .await;
    // 12 updates 100 ms apart: the count never triggers, the clock does.
    let (job, token) = synthetic(&srv, 12, 100).await;
    srv.wait_terminal(&job, &token).await;
    let writes = srv.app.jobs.metrics.state_writes.get();
    assert!(
        (3..12).contains(&(writes - 2)),
        "start + end + one write per 250 ms of updates, not one per update: {writes}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_slow_viewer_is_coalesced_and_slows_no_one() {
    let srv = TestServer::start(|c| {
        c.viewer_queue = 8;
        c.max_viewers_per_job = 2;
    })
    .await;
    let (job, token) = synthetic(&srv, 20_000, 0).await;
    // A viewer with a tiny receive buffer that never reads.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let addr = srv.url.trim_start_matches("http://").parse().unwrap();
    let stream = sock.connect(addr).await.unwrap();
    let url = srv.ws_url(&format!("jobId={job}&token={token}"));
    let (mut slow, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
    let mut fast = srv.connect(&job, &token, "").await;
    send_ready(&mut fast).await;
    let (msgs, code) = tokio::time::timeout(Duration::from_secs(120), read_to_close(&mut fast))
        .await
        .expect("the normal viewer finishes while the slow one stalls");
    assert_eq!(code, Some(CLOSE_NORMAL));
    assert_eq!(msgs.last().unwrap()["type"], "job_complete");
    let coalesced = srv.app.jobs.metrics.hub.events_coalesced.get();
    assert!(coalesced > 0, "the slow viewer's progress was coalesced");
    // The slow viewer still gets an ordered stream that ends with the terminal event.
    let mut last = 0;
    let mut terminal = false;
    while let Some(Ok(m)) = slow.next().await {
        if let tungstenite::Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            let seq = v["seq"].as_u64().unwrap();
            assert!(seq > last, "strictly increasing");
            last = seq;
            terminal = v["type"] == "job_complete";
        }
    }
    assert!(terminal, "the terminal event is never dropped");
    assert_eq!(last, 20_002);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_stop_answering_pings_are_closed() {
    let srv = TestServer::start(|c| {
        c.ws_ping_interval = Duration::from_millis(200);
        c.ws_pong_timeout = Duration::from_millis(200);
    })
    .await;
    let (job, token) = srv.start_import(&goodreads_csv(3, &[])).await;
    // Never polled, so tungstenite never answers the server's pings.
    let _silent = srv.connect(&job, &token, "").await;
    let mut answering = srv.connect(&job, &token, "").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(srv.app.jobs.metrics.hub.open_sockets.get(), 2);
    // Reading answers pings; the silent one is closed after ping + timeout.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, answering.next()).await {}
    assert_eq!(srv.app.jobs.metrics.hub.open_sockets.get(), 1);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sockets_with_1001_and_keeps_state() {
    let srv = TestServer::start(|_| {}).await;
    let (job, token) = synthetic(&srv, 1000, 20).await;
    let mut ws = srv.connect(&job, &token, "").await;
    send_ready(&mut ws).await;
    next_events(&mut ws, 5).await;
    srv.cancel.cancel();
    let (_, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(CLOSE_GOING_AWAY));
    let dir = srv.stop().await;
    // Restart on the same data dir: the job resumes and finishes.
    let mut config = bookstrack_server::Config::new(dir.path());
    config.ready_timeout = Duration::ZERO;
    let srv = TestServer::start_in(dir, config).await;
    let mut ws = srv.connect(&job, &token, "&lastSeq=5").await;
    let (rest, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(CLOSE_NORMAL));
    assert_contiguous(&rest, 6);
    assert_eq!(rest.last().unwrap()["type"], "job_complete");
    let progress: Vec<u64> = rest
        .iter()
        .filter_map(|m| m["payload"]["booksProcessed"].as_u64())
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back"
    );
    srv.stop().await;
}
