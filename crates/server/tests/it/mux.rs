//! `/ws/jobs`: many jobs on one socket, refusals that leave the socket
//! open, the jobs-per-socket limit at its edge, acks kept and shown, and
//! MessagePack frames that carry exactly the JSON events.

use crate::common::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use tokio_tungstenite::tungstenite::Message;

/// A server with synthetic jobs enabled and `tweak` applied.
async fn server(tweak: impl FnOnce(&mut bookstrack_server::Config)) -> TestServer {
    TestServer::start(|c| {
        c.synthetic_jobs = true;
        tweak(c);
    })
    .await
}

/// `count` synthetic jobs of `steps` steps, `interval_ms` apart: (id, token).
async fn jobs(
    srv: &TestServer,
    count: usize,
    steps: u64,
    interval_ms: u64,
) -> Vec<(String, String)> {
    synthetic_jobs(&srv.url, count, steps, interval_ms).await
}

/// Reads until every job in `want` has sent its terminal event; returns
/// each job's events in arrival order.
async fn until_all_end(mux: &mut MuxClient, want: usize) -> HashMap<String, Vec<Value>> {
    let mut events: HashMap<String, Vec<Value>> = HashMap::new();
    let mut ended = 0;
    while ended < want {
        let m = mux.next().await.expect("socket open");
        if m.get("pipeline").is_none() {
            assert_ne!(m["type"], "error", "{m}");
            continue;
        }
        let job = m["jobId"].as_str().unwrap().to_string();
        if matches!(m["type"].as_str(), Some("job_complete" | "error")) {
            ended += 1;
        }
        events.entry(job).or_default().push(m);
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_socket_follows_many_jobs_each_once_and_in_order() {
    let srv = server(|_| {}).await;
    let jobs = jobs(&srv, 30, 20, 5).await;
    let mut mux = MuxClient::connect(&srv.url, None).await;
    for (id, token) in &jobs {
        mux.subscribe(id, token, 0).await;
    }
    let events = until_all_end(&mut mux, jobs.len()).await;
    assert_eq!(events.len(), jobs.len());
    for (id, evs) in &events {
        let last = assert_contiguous(evs, 1);
        assert_eq!(evs.last().unwrap()["type"], "job_complete", "{id}");
        assert_eq!(last, 22, "job_started, 20 progress, job_complete");
    }
    // Nothing more arrives for ended jobs: a ping is answered next.
    mux.send(json!({"type": "ping"})).await;
    let next = mux.next().await.unwrap();
    assert_eq!(next["type"], "pong", "{next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_job_and_leave_the_socket_open() {
    let srv = server(|_| {}).await;
    let jobs = jobs(&srv, 1, 3, 5).await;
    let (id, token) = &jobs[0];
    let mut mux = MuxClient::connect(&srv.url, None).await;

    mux.subscribe(id, "not-the-token", 0).await;
    let e = mux.notice("error").await;
    assert_eq!(e["jobId"], id.as_str());
    assert_eq!(e["payload"]["error"]["code"], "INVALID_TOKEN");
    assert!(e.get("seq").is_none(), "a refusal is not the job's outcome");

    mux.subscribe("no-such-job", token, 0).await;
    let e = mux.notice("error").await;
    assert_eq!(e["payload"]["error"]["code"], "JOB_NOT_FOUND");

    mux.send(json!({"type": "launch_rockets"})).await;
    let e = mux.notice("error").await;
    assert_eq!(e["payload"]["error"]["code"], "INVALID_REQUEST");
    mux.ws.send(Message::text("{not json")).await.unwrap();
    let e = mux.notice("error").await;
    assert_eq!(e["payload"]["error"]["code"], "INVALID_REQUEST");

    mux.send(json!({"type": "ack", "jobId": id, "seq": 1}))
        .await;
    let e = mux.notice("error").await;
    assert_eq!(e["payload"]["error"]["code"], "INVALID_REQUEST", "{e}");

    // The socket still serves: the right token follows the job to its end.
    mux.subscribe(id, token, 0).await;
    let s = mux.notice("subscribed").await;
    assert_eq!(s["payload"]["pipeline"], "synthetic");
    mux.subscribe(id, token, 0).await;
    let e = mux.notice("error").await;
    assert_eq!(
        e["payload"]["error"]["code"], "INVALID_REQUEST",
        "twice: {e}"
    );
    let events = until_all_end(&mut mux, 1).await;
    assert_contiguous(&events[id.as_str()], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_per_socket_limit_holds_at_its_edge() {
    let srv = server(|c| c.max_jobs_per_socket = 3).await;
    let jobs = jobs(&srv, 4, 2, 3_600_000).await;
    let mut mux = MuxClient::connect(&srv.url, None).await;
    for (id, token) in &jobs[..3] {
        mux.subscribe(id, token, 0).await;
        let s = mux.notice("subscribed").await;
        assert_eq!(s["jobId"], id.as_str());
    }
    mux.subscribe(&jobs[3].0, &jobs[3].1, 0).await;
    let e = mux.notice("error").await;
    assert_eq!(e["jobId"], jobs[3].0.as_str());
    assert_eq!(e["payload"]["error"]["code"], "TOO_MANY_SUBSCRIPTIONS");
    assert!(srv
        .metrics()
        .await
        .contains("bookstrack_mux_subscriptions 3"));

    mux.send(json!({"type": "unsubscribe", "jobId": jobs[0].0}))
        .await;
    mux.notice("unsubscribed").await;
    mux.subscribe(&jobs[3].0, &jobs[3].1, 0).await;
    let s = mux.notice("subscribed").await;
    assert_eq!(s["jobId"], jobs[3].0.as_str());
}

/// The job state's `ackedSeq` once it is written.
async fn acked_seq(srv: &TestServer, id: &str, token: &str, want: u64) -> Value {
    for _ in 0..500 {
        let (_, s) = srv.get(&format!("/api/job-state/{id}"), Some(token)).await;
        if s["ackedSeq"] == want {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("ackedSeq never reached {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_are_kept_durably_and_shown_in_the_job_state() {
    let srv = server(|_| {}).await;
    let jobs = jobs(&srv, 1, 3, 5).await;
    let (id, token) = &jobs[0];
    let mut mux = MuxClient::connect(&srv.url, None).await;
    mux.subscribe(id, token, 0).await;
    let events = until_all_end(&mut mux, 1).await;
    let last = assert_contiguous(&events[id.as_str()], 1);
    let (_, before) = srv.get(&format!("/api/job-state/{id}"), Some(token)).await;
    assert!(before.get("ackedSeq").is_none(), "no ack yet: {before}");
    assert!(srv
        .metrics()
        .await
        .contains("bookstrack_terminal_unacked 1"));

    mux.send(json!({"type": "ack", "jobId": id, "seq": last + 1}))
        .await;
    let e = mux.notice("error").await;
    assert!(
        e["payload"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("never sent"),
        "{e}"
    );
    mux.send(json!({"type": "ack", "jobId": id, "seq": last}))
        .await;
    acked_seq(&srv, id, token, last).await;
    assert!(srv
        .metrics()
        .await
        .contains("bookstrack_terminal_unacked 0"));

    // Durable: a restarted server still shows it.
    let dir = srv.stop().await;
    let mut config = bookstrack_server::Config::new(dir.path());
    config.synthetic_jobs = true;
    let srv = TestServer::start_in(dir, config).await;
    acked_seq(&srv, id, token, last).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_socket_takes_acks_too_and_closes_on_one_never_sent() {
    let srv = server(|_| {}).await;
    let jobs = jobs(&srv, 2, 2, 5).await;
    let (id, token) = &jobs[0];
    let mut ws = connect(&srv.url, id, token, 0, true).await;
    let mut last = 0;
    while let Some(e) = next_event(&mut ws).await {
        last = e["seq"].as_u64().unwrap();
        if e["type"] == "job_complete" {
            ws.send(Message::text(
                json!({"type": "ack", "seq": last}).to_string(),
            ))
            .await
            .unwrap();
        }
    }
    acked_seq(&srv, id, token, last).await;

    let (id, token) = &jobs[1];
    let mut ws = connect(&srv.url, id, token, 0, false).await;
    ws.send(Message::text(json!({"type": "ack", "seq": 50}).to_string()))
        .await
        .unwrap();
    let (_, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(1008));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_job_replays_from_its_last_seq_on_the_mux() {
    let srv = server(|_| {}).await;
    let jobs = jobs(&srv, 1, 5, 1).await;
    let (id, token) = &jobs[0];
    let mut ws = connect(&srv.url, id, token, 0, true).await;
    let (all, _) = read_to_close(&mut ws).await;
    let all: Vec<Value> = all.into_iter().filter(|e| e["seq"].is_u64()).collect();
    let mut mux = MuxClient::connect(&srv.url, None).await;
    mux.subscribe(id, token, 3).await;
    let events = until_all_end(&mut mux, 1).await;
    assert_eq!(events[id.as_str()], all[3..].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msgpack_frames_carry_exactly_the_json_events() {
    let srv = server(|_| {}).await;
    let jobs = jobs(&srv, 1, 10, 1).await;
    let (id, token) = &jobs[0];
    let mut json_ws = connect(&srv.url, id, token, 0, true).await;
    let (json_events, _) = read_to_close(&mut json_ws).await;
    let json_events: Vec<Value> = json_events
        .into_iter()
        .filter(|e| e["seq"].is_u64())
        .collect();
    let mut mux = MuxClient::connect(&srv.url, Some("bookstrack.msgpack")).await;
    assert!(mux.msgpack, "the server chose MessagePack");
    mux.subscribe(id, token, 0).await;
    let events = until_all_end(&mut mux, 1).await;
    assert_eq!(events[id.as_str()], json_events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_token_is_handed_over_and_an_expired_one_ends_the_subscription() {
    let srv = server(|c| {
        c.token_ttl = std::time::Duration::from_secs(2);
        c.token_refresh_window = std::time::Duration::from_secs(2);
    })
    .await;
    let jobs = jobs(&srv, 2, 2, 3_600_000).await;
    let mut mux = MuxClient::connect(&srv.url, None).await;
    for (id, token) in &jobs {
        mux.subscribe(id, token, 0).await;
        mux.notice("subscribed").await;
    }
    // Halfway through their life, job 0's token is refreshed over HTTP and
    // handed to its subscription: it now outlives job 1's by a second.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (id0, old0) = &jobs[0];
    let (status, body) = srv
        .post_json(
            "/api/token/refresh",
            &json!({"jobId": id0, "oldToken": old0}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let new0 = body["token"].as_str().unwrap();
    mux.send(json!({"type": "token", "jobId": id0, "token": old0}))
        .await;
    let e = mux.notice("error").await;
    assert_eq!(
        e["payload"]["error"]["code"], "INVALID_TOKEN",
        "the old one is dead: {e}"
    );
    mux.send(json!({"type": "token", "jobId": id0, "token": new0}))
        .await;
    assert_eq!(mux.notice("token_accepted").await["jobId"], id0.as_str());
    // Job 1's token expires on the live socket: the client is told.
    let e = mux.notice("error").await;
    assert_eq!(e["jobId"], jobs[1].0.as_str(), "{e}");
    assert_eq!(e["payload"]["error"]["code"], "TOKEN_EXPIRED");
    assert!(srv
        .metrics()
        .await
        .contains("bookstrack_mux_subscriptions 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_floods_requests_and_never_reads_is_closed_1008() {
    let srv = server(|_| {}).await;
    let mut mux = MuxClient::connect_unread(&srv.url).await;
    // 200,000 pings: 4 MB sent, ~19 MB of pongs the client never reads,
    // far more than the server's send buffer (at most 4 MiB) and the
    // client's 8 KiB hold.
    let batch: Vec<Message> = (0..200_000)
        .map(|_| Message::text(r#"{"type":"ping"}"#))
        .collect();
    let mut stream = futures_util::stream::iter(batch.into_iter().map(Ok));
    let sent = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        mux.ws.send_all(&mut stream),
    )
    .await;
    // The server may close before all is sent: either way it closed.
    let _ = sent;
    let mut pongs = 0;
    let code = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        loop {
            match mux.next().await {
                Ok(_) => pongs += 1,
                Err(code) => break code,
            }
        }
    })
    .await
    .expect("the server closed the flooding socket");
    assert_eq!(code, Some(1008), "after {pongs} pongs");
    assert!(pongs < 200_000, "closed before answering everything");
}
