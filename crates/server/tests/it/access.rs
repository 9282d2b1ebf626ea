//! Who may start jobs and how many (issue 17, `crates/server/src/access/`):
//! the optional API key on every job-creating endpoint and the optional
//! `/metrics` token (401 `UNAUTHORIZED` without them), and the job quotas at
//! their edges (429 `RATE_LIMITED` with `Retry-After` one past each).

use crate::common::*;
use bookstrack_server::access::Secret;
use serde_json::{json, Value};
use std::time::Duration;

const KEY: &str = "0123456789abcdef-operator-key";

fn enrichment() -> Value {
    json!({"books": [{"title": "Dune"}]})
}

async fn start(srv: &TestServer, headers: &[(&str, &str)]) -> (u16, Value, Option<String>) {
    srv.post_json_with("/api/enrichment/start", &enrichment(), headers)
        .await
}

/// Every job-creating endpoint's status without `Authorization`, and with
/// a wrong key.
async fn every_endpoint(srv: &TestServer, auth: Option<&str>) -> Vec<(String, u16, Value)> {
    let mut out = Vec::new();
    let bearer = auth.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| vec![("Authorization", b)])
        .unwrap_or_default();
    for (path, body) in [
        ("/api/enrichment/start", enrichment()),
        ("/api/jobs", json!({"pipeline": "ai_scan"})),
        ("/api/synthetic/jobs", json!({"count": 1, "steps": 1})),
    ] {
        let (s, b, _) = srv.post_json_with(path, &body, &headers).await;
        out.push((path.to_string(), s, b));
    }
    for path in [
        "/api/import/csv",
        "/api/scan-bookshelf",
        "/api/scan-bookshelf/batch",
    ] {
        let mut req = srv.http.post(format!("{}{path}", srv.url)).multipart(
            reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(vec![])),
        );
        if let Some(b) = &bearer {
            req = req.header("Authorization", b);
        }
        let resp = req.send().await.unwrap();
        let s = resp.status().as_u16();
        out.push((
            path.to_string(),
            s,
            resp.json().await.unwrap_or(Value::Null),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_api_key_every_job_creating_endpoint_needs_it() {
    let srv = TestServer::start(|c| {
        c.api_key = Secret::new(KEY);
        c.synthetic_jobs = true;
        c.enrich.offline = true;
    })
    .await;
    for auth in [None, Some("wrong"), Some(&KEY[..KEY.len() - 1])] {
        for (path, s, b) in every_endpoint(&srv, auth).await {
            assert_eq!(s, 401, "{path} with {auth:?}: {b}");
            assert_eq!(b["error"]["code"], "UNAUTHORIZED", "{path}");
        }
    }
    for (path, s, b) in every_endpoint(&srv, Some(KEY)).await {
        // Past the key: a job, or the endpoint's own answer to an empty upload.
        assert!(s == 202 || s == 400, "{path} with the key: {s} {b}");
    }
    let (s, _) = srv.get("/healthz", None).await;
    assert_eq!(s, 200, "reading needs no key");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_api_key_the_server_is_open_as_before() {
    let srv = TestServer::start(|c| c.enrich.offline = true).await;
    let (s, b, _) = start(&srv, &[]).await;
    assert_eq!(s, 202, "{b}");
    let (s, _, _) = start(&srv, &[("Authorization", "Bearer anything")]).await;
    assert_eq!(s, 202, "a bearer is ignored when no key is set");
    assert!(srv.metrics().await.contains("bookstrack_"), "metrics open");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_their_token_when_one_is_set() {
    let srv = TestServer::start(|c| c.metrics_token = Secret::new("m-token")).await;
    let get = |bearer: Option<&'static str>| {
        let mut req = srv.http.get(format!("{}/metrics", srv.url));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        async move { req.send().await.unwrap() }
    };
    let r = get(None).await;
    assert_eq!(r.status(), 401);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "UNAUTHORIZED");
    assert_eq!(get(Some("m-toke")).await.status(), 401);
    let r = get(Some("m-token")).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("bookstrack_"));
    srv.stop().await;
}

/// Jobs that wait for a viewer's `ready` (an hour): they stay unfinished.
fn waiting(c: &mut bookstrack_server::Config) {
    c.ready_timeout = Duration::from_secs(3600);
    c.enrich.offline = true;
}

fn assert_rate_limited(s: u16, b: &Value, retry: Option<String>, why: &str) {
    assert_eq!(s, 429, "{why}: {b}");
    assert_eq!(b["error"]["code"], "RATE_LIMITED", "{why}");
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!(secs >= 1, "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holds_at_most_its_unfinished_jobs() {
    let srv = TestServer::start(|c| {
        waiting(c);
        c.max_jobs_per_client = 3;
    })
    .await;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let (s, b, _) = start(&srv, &[]).await;
        assert_eq!(s, 202, "at the limit: {b}");
        jobs.push(b["data"].clone());
    }
    let (s, b, retry) = start(&srv, &[]).await;
    assert_rate_limited(s, &b, retry, "one past the per-client limit");
    // An ended job gives its slot back.
    let (job, token) = (
        jobs[0]["jobId"].as_str().unwrap(),
        jobs[0]["token"].as_str().unwrap(),
    );
    let mut ws = srv.connect(job, token, "").await;
    send_ready(&mut ws).await;
    srv.wait_terminal(job, token).await;
    let mut freed = false;
    for _ in 0..100 {
        if start(&srv, &[]).await.0 == 202 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed, "a slot frees when a job ends");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_holds_at_most_its_active_jobs() {
    let srv = TestServer::start(|c| {
        waiting(c);
        c.max_active_jobs = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(start(&srv, &[]).await.0, 202, "at the limit");
    }
    let (s, b, retry) = start(&srv, &[]).await;
    assert_rate_limited(s, &b, retry, "one past the server's limit");
    let (s, b, retry) = srv
        .post_json_with("/api/jobs", &json!({"pipeline": "csv_import"}), &[])
        .await;
    assert_rate_limited(s, &b, retry, "an external job counts too");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_starts_are_a_burst_then_the_rate() {
    let srv = TestServer::start(|c| {
        waiting(c);
        c.job_start_burst = 4;
        c.job_start_rate = 0.01;
    })
    .await;
    for _ in 0..4 {
        assert_eq!(start(&srv, &[]).await.0, 202, "within the burst");
    }
    let (s, b, retry) = start(&srv, &[]).await;
    let secs: u64 = retry.clone().unwrap().parse().unwrap();
    assert_rate_limited(s, &b, retry, "one past the burst");
    assert!((90..=100).contains(&secs), "a token comes in 100 s: {secs}");
    srv.stop().await;
}
