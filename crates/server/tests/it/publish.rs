//! External jobs and the publisher API (docs/PROTOCOL.md §21): the hub's
//! rules on published events, idempotency keys, the publisher key, the
//! silence timeout, restarts, and each limit at its edge.

use crate::common::*;
use bookstrack_server::Config;
use serde_json::{json, Value};
use std::time::Duration;

pub(crate) struct External {
    pub job: String,
    pub token: String,
    pub key: String,
}

pub(crate) async fn create(srv: &TestServer, body: Value) -> (u16, Value) {
    srv.post_json("/api/jobs", &body).await
}

pub(crate) async fn external(srv: &TestServer, total: u64) -> External {
    let (status, body) = create(
        srv,
        json!({"pipeline": "batch_enrichment", "totalCount": total}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let d = &body["data"];
    External {
        job: d["jobId"].as_str().unwrap().into(),
        token: d["token"].as_str().unwrap().into(),
        key: d["publisherKey"].as_str().unwrap().into(),
    }
}

/// Status, body and `Retry-After` of one publish request.
pub(crate) async fn publish_raw(
    srv: &TestServer,
    job: &str,
    key: &str,
    body: String,
) -> (u16, Value, Option<String>) {
    let resp = srv
        .http
        .post(format!("{}/api/jobs/{job}/events", srv.url))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, resp.json().await.unwrap_or(Value::Null), retry)
}

pub(crate) async fn publish(srv: &TestServer, j: &External, events: Value) -> (u16, Value) {
    let (s, b, _) = publish_raw(srv, &j.job, &j.key, json!({ "events": events }).to_string()).await;
    (s, b)
}

/// `POST /api/jobs/{id}/publisher-key/refresh` with the job's first key.
async fn refresh_key(srv: &TestServer, j: &External) -> reqwest::Response {
    let url = format!("{}/api/jobs/{}/publisher-key/refresh", srv.url, j.job);
    srv.http.post(url).bearer_auth(&j.key).send().await.unwrap()
}

pub(crate) fn progress(n: u64, key: &str) -> Value {
    json!({"type": "progress", "key": key, "booksProcessed": n, "status": format!("Item {n}")})
}

fn seqs(body: &Value) -> Vec<Option<u64>> {
    body["data"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_reach_viewers_under_the_hubs_rules() {
    let srv = TestServer::start(|_| {}).await;
    let j = external(&srv, 3).await;
    let mut ws = srv.connect(&j.job, &j.token, "").await;
    let (s, b) = publish(&srv, &j, json!([progress(1, "a"), progress(2, "b")])).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(seqs(&b), vec![Some(2), Some(3)], "job_started is seq 1");
    assert_eq!(b["data"]["results"][0]["status"], "appended");
    // A stale progress is refused; the events around it are not.
    let (s, b) = publish(&srv, &j, json!([progress(1, "c"), progress(3, "d")])).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["error"]["code"], "STALE_PROGRESS");
    assert_eq!(b["data"]["results"][0]["status"], "refused");
    assert_eq!(seqs(&b), vec![None, Some(4)]);
    let done = json!({"type": "complete", "key": "end", "result": {"books": [], "totalBooks": 99}, "successCount": 2});
    let (s, b) = publish(&srv, &j, json!([done])).await;
    assert_eq!((s, seqs(&b)), (200, vec![Some(5)]), "{b}");
    // Sticky: nothing follows the terminal event, but its retry is recognised.
    let (s, b) = publish(&srv, &j, json!([progress(3, "late")])).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("JOB_ENDED")),
        "{b}"
    );
    let (s, b) = publish(&srv, &j, json!([done])).await;
    assert_eq!(
        (s, b["data"]["results"][0]["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(seqs(&b), vec![Some(5)]);

    let (msgs, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(CLOSE_NORMAL));
    let events: Vec<Value> = msgs.into_iter().filter(|m| m["seq"].is_u64()).collect();
    assert_eq!(assert_contiguous(&events, 1), 5);
    for e in &events {
        assert_eq!(e["pipeline"], "batch_enrichment", "the factory's label");
        assert_eq!(e["version"], "1.0.0");
    }
    assert_eq!(events[0]["payload"]["totalCount"], 3);
    assert_eq!(events[1]["payload"]["booksProcessed"], 1);
    assert_eq!(events[3]["payload"]["progress"], 1.0);
    let result = &events[4]["payload"]["result"];
    assert_eq!(
        result["totalBooks"], 3,
        "the hub's count, not the publisher's"
    );
    assert_eq!(result["successCount"], 2);
    assert_eq!(result["failureCount"], 0);
    assert_eq!(result["books"], json!([]));
    let state = srv.wait_terminal(&j.job, &j.token).await;
    assert_eq!(state["lastSeq"], 5);
    let text = srv.metrics().await;
    for line in [
        "bookstrack_published_events_total{outcome=\"appended\"} 4",
        "bookstrack_published_events_total{outcome=\"duplicate\"} 1",
        "bookstrack_publish_refused_total{reason=\"stale_progress\"} 1",
        "bookstrack_publish_refused_total{reason=\"job_ended\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_never_appends_twice() {
    let srv = TestServer::start(|_| {}).await;
    let j = external(&srv, 10).await;
    let batch = json!([progress(1, "i1"), progress(2, "i2")]);
    let (_, first) = publish(&srv, &j, batch.clone()).await;
    let (s, again) = publish(&srv, &j, batch).await;
    assert_eq!(s, 200);
    assert_eq!(seqs(&first), seqs(&again));
    assert_eq!(again["data"]["results"][1]["status"], "duplicate");
    // Events without a key are each appended.
    let bare = json!([{"type": "progress", "booksProcessed": 2}]);
    let (_, a) = publish(&srv, &j, bare.clone()).await;
    let (_, b) = publish(&srv, &j, bare).await;
    assert_eq!((seqs(&a), seqs(&b)), (vec![Some(4)], vec![Some(5)]));
    assert_eq!(again["data"]["lastSeq"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_publisher_key_publishes() {
    let srv = TestServer::start(|_| {}).await;
    let j = external(&srv, 1).await;
    let body = json!({"events": [progress(1, "x")]}).to_string();
    for wrong in [j.token.as_str(), "", &"0".repeat(64)] {
        let (s, b, _) = publish_raw(&srv, &j.job, wrong, body.clone()).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (401, Some("INVALID_TOKEN")),
            "{wrong}"
        );
    }
    let (s, _, _) = publish_raw(&srv, "no-such-job", &j.key, body.clone()).await;
    assert_eq!(s, 404);
    // A job of a built-in pipeline has no publisher.
    let (other, _) = srv.start_import(&goodreads_csv(3, &[])).await;
    let (s, _, _) = publish_raw(&srv, &other, &j.key, body.clone()).await;
    assert_eq!(s, 404);
    // The viewers' endpoints do not take the publisher key either.
    let (s, _) = srv
        .get(&format!("/api/job-state/{}", j.job), Some(&j.key))
        .await;
    assert_eq!(s, 401);
    // A rotated key: the new one works, the old one no longer.
    let resp = refresh_key(&srv, &j).await;
    assert_eq!(resp.status(), 200);
    let fresh: Value = resp.json().await.unwrap();
    let new_key = fresh["data"]["publisherKey"].as_str().unwrap();
    assert_ne!(new_key, j.key);
    let (s, _, _) = publish_raw(&srv, &j.job, &j.key, body.clone()).await;
    assert_eq!(s, 401);
    let (s, _, _) = publish_raw(&srv, &j.job, new_key, body).await;
    assert_eq!(s, 200);
    let again = refresh_key(&srv, &j).await;
    assert_eq!(again.status(), 409, "the replaced key");
    let text = srv.metrics().await;
    assert!(text.contains("bookstrack_token_refreshes_total{credential=\"publisher\"} 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_events_are_refused_with_the_reason() {
    let srv = TestServer::start(|_| {}).await;
    let j = external(&srv, 5).await;
    for (ev, code) in [
        (json!({"type": "progress", "seq": 9}), "INVALID_REQUEST"),
        (
            json!({"type": "progress", "pipeline": "ai_scan"}),
            "INVALID_REQUEST",
        ),
        (json!({"type": "job_progress"}), "INVALID_REQUEST"),
        (
            json!({"type": "progress", "key": "has space"}),
            "INVALID_REQUEST",
        ),
    ] {
        let (s, b) = publish(&srv, &j, json!([ev])).await;
        assert_eq!((s, b["error"]["code"].as_str()), (400, Some(code)), "{ev}");
    }
    for (ev, code) in [
        (
            json!({"type": "progress", "booksProcessed": 6}),
            "INVALID_REQUEST",
        ),
        (
            json!({"type": "progress", "progress": 1.5}),
            "INVALID_REQUEST",
        ),
        (
            json!({"type": "error", "code": "TOKEN_EXPIRED", "message": "x"}),
            "INVALID_REQUEST",
        ),
    ] {
        let (s, b) = publish(&srv, &j, json!([ev])).await;
        assert_eq!((s, b["error"]["code"].as_str()), (409, Some(code)), "{ev}");
    }
    for body in [
        json!({"pipeline": "synthetic"}),
        json!({"pipeline": "csv_import", "seq": 1}),
        json!({}),
    ] {
        let (s, b) = create(&srv, body.clone()).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (400, Some("INVALID_REQUEST")),
            "{body}"
        );
    }
    let fail = json!({"type": "error", "code": "PROCESSING_FAILED", "message": "disk full"});
    let (s, _) = publish(&srv, &j, json!([fail])).await;
    assert_eq!(s, 200);
    let state = srv.wait_terminal(&j.job, &j.token).await;
    assert_eq!(state["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_publisher_fails_its_job() {
    let srv = TestServer::start(|c| c.publish.publisher_timeout = Duration::from_millis(400)).await;
    let j = external(&srv, 2).await;
    publish(&srv, &j, json!([progress(1, "p1")])).await;
    let mut ws = srv.connect(&j.job, &j.token, "").await;
    let (msgs, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(CLOSE_NORMAL));
    let end = msgs.iter().rfind(|m| m["seq"].is_u64()).unwrap();
    assert_eq!(end["type"], "error");
    assert_eq!(end["payload"]["error"]["code"], "PROCESSING_FAILED");
    let message = end["payload"]["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("publisher went away"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_job_waits_for_its_publisher_and_knows_its_keys() {
    let srv = TestServer::start(|_| {}).await;
    let j = external(&srv, 4).await;
    let (_, before) = publish(&srv, &j, json!([progress(1, "k1"), progress(2, "k2")])).await;
    let dir = srv.stop().await;
    let mut config = Config::new(dir.path());
    config.publish.publisher_timeout = Duration::from_secs(300);
    let srv = TestServer::start_in(dir, config).await;
    let (s, again) = publish(
        &srv,
        &j,
        json!([progress(2, "k2"), progress(1, "k0"), progress(3, "k3")]),
    )
    .await;
    assert_eq!(s, 409, "{again}");
    assert_eq!(
        seqs(&again)[0],
        seqs(&before)[1],
        "the key survived the restart"
    );
    assert_eq!(
        again["data"]["results"][1]["error"]["code"],
        "STALE_PROGRESS"
    );
    assert_eq!(seqs(&again)[2], Some(4), "seqs continue with no gap");
    publish(&srv, &j, json!([{"type": "complete", "key": "done"}])).await;
    let mut ws = srv.connect(&j.job, &j.token, "&lastSeq=0").await;
    let (msgs, _) = read_to_close(&mut ws).await;
    let events: Vec<Value> = msgs.into_iter().filter(|m| m["seq"].is_u64()).collect();
    assert_eq!(assert_contiguous(&events, 1), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_external_job_is_cleaned_up_like_any_other() {
    let srv = TestServer::start(|c| c.job_retention = Duration::from_millis(300)).await;
    let j = external(&srv, 1).await;
    let done = json!([{"type": "complete", "key": "end"}]);
    assert_eq!(publish(&srv, &j, done.clone()).await.0, 200);
    let mut gone = false;
    for _ in 0..100 {
        let (s, _) = srv
            .get(&format!("/api/job-state/{}", j.job), Some(&j.token))
            .await;
        if s == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "deleted after its retention");
    let (s, _) = publish(&srv, &j, done).await;
    assert_eq!(s, 404, "its publisher key went with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_the_publisher_raised_survives_a_restart() {
    let srv = TestServer::start(|_| {}).await;
    let j = external(&srv, 4).await;
    let raise = json!({"type": "progress", "key": "r", "booksProcessed": 2, "totalBooks": 10});
    assert_eq!(publish(&srv, &j, json!([raise])).await.0, 200);
    // A raised total lowers the derived fraction: it holds, not refused.
    let more = json!({"type": "progress", "booksProcessed": 3, "totalBooks": 20});
    let (s, b) = publish(&srv, &j, json!([more])).await;
    assert_eq!(s, 200, "{b}");
    let dir = srv.stop().await;
    let config = Config::new(dir.path());
    let srv = TestServer::start_in(dir, config).await;
    // No total given: the one set before the restart, not the creation's 4.
    let (s, b) = publish(&srv, &j, json!([{"type": "progress", "booksProcessed": 7}])).await;
    assert_eq!(s, 200, "{b}");
    publish(&srv, &j, json!([{"type": "complete"}])).await;
    let mut ws = srv.connect(&j.job, &j.token, "&lastSeq=0").await;
    let (msgs, _) = read_to_close(&mut ws).await;
    let events: Vec<Value> = msgs.into_iter().filter(|m| m["seq"].is_u64()).collect();
    assert_eq!(events[2]["payload"]["progress"], 0.2, "held at 2/10");
    assert_eq!(events[3]["payload"]["totalBooks"], 20);
    let result = &events[4]["payload"]["result"];
    assert_eq!(
        (
            result["totalBooks"].as_u64(),
            result["successCount"].as_u64()
        ),
        (Some(20), Some(7))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_sent_again_after_a_lost_answer_succeeds_again() {
    let srv = TestServer::start(|_| {}).await;
    let j = external(&srv, 1).await;
    let new_key = "ab".repeat(32);
    let refresh = || {
        srv.http
            .post(format!(
                "{}/api/jobs/{}/publisher-key/refresh",
                srv.url, j.job
            ))
            .bearer_auth(&j.key)
            .json(&json!({"newKey": new_key}))
            .send()
    };
    for _ in 0..2 {
        let resp = refresh().await.unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["data"]["publisherKey"], new_key.as_str());
    }
    let (s, _, _) = publish_raw(
        &srv,
        &j.job,
        &new_key,
        json!({"events": [progress(1, "a")]}).to_string(),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = publish_raw(
        &srv,
        &j.job,
        &j.key,
        json!({"events": [progress(1, "b")]}).to_string(),
    )
    .await;
    assert_eq!(s, 401, "the old key no longer publishes");
}
