//! The publisher API's limits, each at its edge (docs/PROTOCOL.md §17, §21).

use crate::common::*;
use crate::publish::{create, external, publish, publish_raw};
use bookstrack_server::Config;
use serde_json::{json, Value};
use std::time::Duration;

fn limits(c: &mut Config) {
    c.publish.max_events = 4;
    c.publish.max_event_bytes = 200;
    c.publish.max_request_bytes = 4096;
    c.publish.rate_per_job = 2.0;
    c.publish.max_jobs_per_client = 2;
}

/// A progress event whose JSON, as the server re-serialises it, is `size` bytes.
fn sized(size: usize) -> Value {
    let base = json!({"type": "progress", "status": ""}).to_string().len();
    json!({"type": "progress", "status": "s".repeat(size - base)})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_publish_limit_holds_at_its_edge() {
    let srv = TestServer::start(limits).await;
    let j = external(&srv, 0).await;
    let (s, b) = publish(&srv, &j, json!([sized(201)])).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{b}"
    );
    let (s, b) = publish(&srv, &j, json!([sized(200)])).await;
    assert_eq!(s, 200, "an event of exactly the limit: {b}");
    let five: Vec<Value> = (0..5).map(|_| sized(40)).collect();
    let (s, b) = publish(&srv, &j, json!(five)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{b}"
    );
    // Burst of 2 × 4 events: 1 spent above, 4 + 3 more fit, the next waits.
    let (s, _) = publish(&srv, &j, json!(five[..4])).await;
    assert_eq!(s, 200);
    let (s, _) = publish(&srv, &j, json!(five[..3])).await;
    assert_eq!(s, 200);
    let (s, b, retry) = publish_raw(
        &srv,
        &j.job,
        &j.key,
        json!({"events": [sized(40)]}).to_string(),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (429, Some("RATE_LIMITED")),
        "{b}"
    );
    assert_eq!(retry.as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (s, _) = publish(&srv, &j, json!([sized(40)])).await;
    assert_eq!(s, 200, "the rate refills");
    let big = format!("{{\"events\": [{}]}}", " ".repeat(4096));
    let (s, b, _) = publish_raw(&srv, &j.job, &j.key, big).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );
    let (s, _) = publish(&srv, &j, json!([])).await;
    assert_eq!(s, 400, "no events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holds_at_most_its_external_jobs() {
    let srv = TestServer::start(limits).await;
    let a = external(&srv, 1).await;
    let _b = external(&srv, 1).await;
    let resp = srv
        .http
        .post(format!("{}/api/jobs", srv.url))
        .json(&json!({"pipeline": "ai_scan"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    publish(&srv, &a, json!([{"type": "complete"}])).await;
    srv.wait_terminal(&a.job, &a.token).await;
    let mut freed = false;
    for _ in 0..50 {
        if create(&srv, json!({"pipeline": "ai_scan"})).await.0 == 202 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed, "an ended job gives its slot back");
}
