//! Requests the server sends elsewhere (issue 17): redirects followed on
//! the same origin only, never with a key to another host; bodies capped at
//! `--max-upstream-bytes`; the Google Books key in a header, not the URL.

use super::{enrich, server};
use crate::common::*;
use bookstrack_server::pipelines::ai_scan::gemini::Gemini;
use bookstrack_server::pipelines::enrichment::upstream::{Fetch, Upstream, UpstreamConfig};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn upstream(max_body_bytes: usize) -> Upstream {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-goog-api-key", "secret-key".parse().unwrap());
    Upstream::new(UpstreamConfig {
        name: "test",
        per_second: 100.0,
        timeout: Duration::from_secs(5),
        retries: 0,
        max_in_flight: 2,
        user_agent: "t".into(),
        max_body_bytes,
        headers,
    })
}

fn described(f: Fetch) -> String {
    match f {
        Fetch::Json(v) => format!("json {v}"),
        Fetch::NotFound => "not found".into(),
        Fetch::Unavailable(r) => format!("unavailable: {r}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_followed_on_the_same_host_only() {
    let (a, b) = (MockServer::start().await, MockServer::start().await);
    Mock::given(path("/elsewhere"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", format!("{}/x", b.uri())),
        )
        .mount(&a)
        .await;
    Mock::given(path("/moved"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/here"))
        .mount(&a)
        .await;
    Mock::given(path("/here"))
        .and(header("x-goog-api-key", "secret-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": 1})))
        .mount(&a)
        .await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"leaked": 1})))
        .mount(&b)
        .await;
    let up = upstream(1 << 20);
    let same = up
        .get_json(&format!("{}/moved", a.uri()).parse().unwrap())
        .await;
    assert_eq!(described(same), "json {\"ok\":1}", "same host: followed");
    let other = up
        .get_json(&format!("{}/elsewhere", a.uri()).parse().unwrap())
        .await;
    let why = described(other);
    assert!(
        why.contains("redirected to another host (HTTP 302)"),
        "{why}"
    );
    assert!(
        b.received_requests().await.unwrap().is_empty(),
        "nothing, and no key, reached the other host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_past_the_body_limit_is_refused() {
    let srv = MockServer::start().await;
    let limit = 4096;
    // Valid JSON of exactly the limit, and one byte more.
    let at = format!("{{\"a\":\"{}\"}}", "x".repeat(limit - 8));
    assert_eq!(at.len(), limit);
    let over = format!("{{\"a\":\"{}\"}}", "x".repeat(limit - 7));
    Mock::given(path("/at"))
        .respond_with(ResponseTemplate::new(200).set_body_string(at))
        .mount(&srv)
        .await;
    Mock::given(path("/over"))
        .respond_with(ResponseTemplate::new(200).set_body_string(over))
        .mount(&srv)
        .await;
    let up = upstream(limit);
    let got = described(
        up.get_json(&format!("{}/at", srv.uri()).parse().unwrap())
            .await,
    );
    assert!(got.starts_with("json "), "at the limit: {got}");
    let got = described(
        up.get_json(&format!("{}/over", srv.uri()).parse().unwrap())
            .await,
    );
    assert!(got.contains("larger than the limit of 4096 bytes"), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_google_books_key_travels_in_a_header_not_the_url() {
    let (ol, gb) = (MockServer::start().await, MockServer::start().await);
    let isbn = isbn13(31);
    Mock::given(method("GET"))
        .and(path("/volumes"))
        .and(header("x-goog-api-key", "gb-key-123"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"totalItems": 1, "items": [
            {"volumeInfo": {"title": "Annihilation", "authors": ["Jeff VanderMeer"],
             "industryIdentifiers": [{"type": "ISBN_13", "identifier": isbn}]}}]})),
        )
        .mount(&gb)
        .await;
    let srv = server(&ol, &gb, |c| {
        c.enrich.providers = vec!["googlebooks".into()];
        c.enrich.google_books_api_key = Some("gb-key-123".into());
    })
    .await;
    let (_, _, state, data) = enrich(
        &srv,
        json!({"books": [{"title": "Annihilation", "isbn": isbn}]}),
    )
    .await;
    assert_eq!(state["successCount"], 1, "{data}");
    let reqs = gb.received_requests().await.unwrap();
    assert!(!reqs.is_empty());
    for r in reqs {
        assert!(!r.url.as_str().contains("gb-key-123"), "{}", r.url);
        assert!(r.url.query_pairs().all(|(k, _)| k != "key"), "{}", r.url);
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_never_follows_a_redirect_to_another_host() {
    let (a, b) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307).insert_header("location", format!("{}/steal", b.uri())),
        )
        .mount(&a)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&b)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("p.png");
    image::DynamicImage::new_rgb8(4, 4).save(&photo).unwrap();
    let g = Gemini {
        base: a.uri(),
        model: "m".into(),
        api_key: "gemini-key".into(),
        timeout: Duration::from_secs(5),
        retries: 0,
        max_body_bytes: 1 << 20,
    };
    let err = g.read(&photo, "image/png").await.expect_err("refused");
    assert!(err.contains("HTTP 307"), "{err}");
    assert!(
        b.received_requests().await.unwrap().is_empty(),
        "the key stayed home"
    );
}
