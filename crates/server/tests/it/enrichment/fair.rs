//! One client's enrichment cannot starve another's on the shared provider
//! rate (issue 17, `pipelines/enrichment/limiter.rs`): with job A's 1000
//! books queued, job B's few books are asked for at once, taking turns with
//! A's, as the order of the requests the fake Open Library sees shows.

use super::server;
use crate::common::*;
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn titles_seen(ol: &MockServer) -> Vec<String> {
    ol.received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "title")
                .map(|(_, v)| v.into_owned())
        })
        .collect()
}

async fn started(srv: &TestServer, books: Vec<Value>) -> (String, String) {
    let (s, v) = srv
        .post_json("/api/enrichment/start", &json!({"books": books}))
        .await;
    assert_eq!(s, 202, "{v}");
    let d = &v["data"];
    (
        d["jobId"].as_str().unwrap().into(),
        d["token"].as_str().unwrap().into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_job_takes_turns_with_a_large_one_queued_before_it() {
    let (ol, gb) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("GET"))
        .and(path("/search.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"docs": []})))
        .mount(&ol)
        .await;
    let srv = server(&ol, &gb, |c| {
        c.enrich.providers = vec!["openlibrary".into()];
    })
    .await;
    let a: Vec<Value> = (0..1000)
        .map(|i| json!({"title": format!("A{i}")}))
        .collect();
    let _a = started(&srv, a).await;
    // A's first 25 searches are queued once its first one is seen.
    for _ in 0..500 {
        if !titles_seen(&ol).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let b: Vec<Value> = (0..3).map(|i| json!({"title": format!("B{i}")})).collect();
    let (bj, bt) = started(&srv, b).await;
    let a_before = titles_seen(&ol).await.len();
    let state = srv.wait_terminal(&bj, &bt).await;
    assert_eq!(state["processedCount"], 3);
    let seen = titles_seen(&ol).await;
    let first_b = seen.iter().position(|t| t.starts_with('B')).unwrap();
    let last_b = seen.iter().rposition(|t| t.starts_with('B')).unwrap();
    // In arrival order B would wait for the rest of A's chunk: ~23 more.
    assert!(
        first_b <= a_before + 3,
        "B's first request after {} of A's since it started: {seen:?}",
        first_b - a_before.min(first_b)
    );
    assert!(
        last_b - first_b <= 5,
        "B's requests alternate with A's: {seen:?}"
    );
    srv.stop().await;
}
