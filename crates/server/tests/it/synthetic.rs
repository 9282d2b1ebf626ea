//! `POST /api/synthetic/jobs`: off unless enabled, bounded per request, and
//! its jobs stream like any other, stamped for the load generator.

use crate::common::*;
use bookstrack_server::http::synthetic::MAX_SYNTHETIC_JOBS_PER_REQUEST;
use serde_json::{json, Value};

/// A viewer of `job` (an entry of the answer's `data.jobs`) that has sent
/// `ready`.
async fn ready_viewer(srv: &TestServer, job: &Value) -> Ws {
    let id = job["jobId"].as_str().unwrap();
    let mut ws = srv.connect(id, job["token"].as_str().unwrap(), "").await;
    send_ready(&mut ws).await;
    ws
}

/// The publish time a stamped progress event carries, in µs.
fn stamp(event: &Value) -> u64 {
    event["payload"]["currentTitle"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_mounted_unless_enabled() {
    let srv = TestServer::start(|_| {}).await;
    let (status, _) = srv
        .post_json("/api/synthetic/jobs", &json!({"count": 1, "steps": 1}))
        .await;
    assert_eq!(status, 404);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_is_bounded_per_request() {
    let srv = TestServer::start(|c| {
        c.synthetic_jobs = true;
        c.max_running_jobs = 2000;
    })
    .await;
    let max = MAX_SYNTHETIC_JOBS_PER_REQUEST;
    for count in [0, max + 1] {
        let (status, body) = srv
            .post_json("/api/synthetic/jobs", &json!({"count": count, "steps": 1}))
            .await;
        assert_eq!(status, 400, "{count}: {body}");
        assert_eq!(body["error"]["code"], "INVALID_REQUEST");
    }
    let (status, body) = srv
        .post_json(
            "/api/synthetic/jobs",
            &json!({"count": max, "steps": 1, "intervalMs": 3_600_000}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["data"]["jobs"].as_array().unwrap().len(), max);
    // The longest interval there is, spread: accepted, and its jobs wait.
    let (status, body) = srv
        .post_json(
            "/api/synthetic/jobs",
            &json!({"count": 2, "steps": 1, "intervalMs": u64::MAX, "spread": true}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    for job in body["data"]["jobs"].as_array().unwrap() {
        let mut ws = ready_viewer(&srv, job).await;
        let first = next_events(&mut ws, 1).await;
        assert_eq!(first[0]["type"], "job_started", "{first:?}");
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamped_jobs_carry_their_publish_time() {
    let srv = TestServer::start(|c| c.synthetic_jobs = true).await;
    let (_, body) = srv
        .post_json(
            "/api/synthetic/jobs",
            &json!({"count": 1, "steps": 3, "intervalMs": 1, "stamp": true}),
        )
        .await;
    let mut ws = ready_viewer(&srv, &body["data"]["jobs"][0]).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let (events, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(1000));
    let stamps: Vec<u64> = events
        .iter()
        .filter(|e| e["type"] == "job_progress")
        .map(stamp)
        .collect();
    assert_eq!(stamps.len(), 3);
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]));
    assert!(stamps[0] + 60_000_000 > before, "a wall-clock time in µs");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spread_jobs_step_at_even_phases_of_their_interval() {
    let srv = TestServer::start(|c| c.synthetic_jobs = true).await;
    let (status, body) = srv
        .post_json(
            "/api/synthetic/jobs",
            &json!({"count": 4, "steps": 1, "intervalMs": 1000, "stamp": true, "spread": true}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let mut viewers = Vec::new();
    for job in body["data"]["jobs"].as_array().unwrap() {
        viewers.push(ready_viewer(&srv, job).await);
    }
    for (k, ws) in viewers.iter_mut().enumerate() {
        let (events, _) = read_to_close(ws).await;
        let stamp = stamp(
            events
                .iter()
                .find(|e| e["type"] == "job_progress")
                .expect("a step"),
        );
        // Job k of 4 steps at k/4 of each second, give or take a timer's
        // lateness (well under the 250 ms between phases).
        let at_ms = (stamp / 1000) % 1000;
        let want = k as u64 * 250;
        let off = (at_ms + 1000 - want) % 1000;
        assert!(off < 100, "job {k} stepped at {at_ms} ms, not {want}");
    }
    srv.stop().await;
}
