//! When a provider fails: malformed answers, timeouts, quotas, no network,
//! offline mode, each falling through to the next source or failing the book.

use super::{bibkeys, enrich, server, BooksApi};
use crate::common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn gb_volume(isbn: &str) -> Value {
    json!({"kind": "books#volumes", "totalItems": 1, "items": [{"kind": "books#volume", "id": "2cl7AgAAQBAJ",
        "volumeInfo": {"title": "Annihilation", "subtitle": "A Novel", "authors": ["Jeff VanderMeer"], "publisher": "Macmillan",
            "publishedDate": "2014-02-04", "description": "Area X.", "industryIdentifiers": [
                {"type": "ISBN_13", "identifier": isbn}, {"type": "ISBN_10", "identifier": "0374104093"}],
            "pageCount": 209, "categories": ["Fiction"],
            "imageLinks": {"smallThumbnail": "http://books.google.com/s", "thumbnail": "http://books.google.com/t"}}}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_and_timeouts_fall_through_to_google_books() {
    let (ol, gb) = (MockServer::start().await, MockServer::start().await);
    let isbn_a = isbn13(11);
    let isbn_b = isbn13(12);
    let a = isbn_a.clone();
    Mock::given(method("GET"))
        .and(path("/api/books"))
        .respond_with(move |req: &Request| {
            if bibkeys(req).contains(&a) {
                ResponseTemplate::new(200).set_body_string("{\"ISBN:")
            } else {
                ResponseTemplate::new(200)
                    .set_body_json(json!({}))
                    .set_delay(Duration::from_secs(3))
            }
        })
        .mount(&ol)
        .await;
    Mock::given(method("GET"))
        .and(path("/volumes"))
        .respond_with(move |req: &Request| {
            let q = req
                .url
                .query_pairs()
                .find(|(k, _)| k == "q")
                .map(|(_, v)| v.to_string())
                .unwrap();
            ResponseTemplate::new(200).set_body_json(gb_volume(q.trim_start_matches("isbn:")))
        })
        .mount(&gb)
        .await;
    let srv = server(&ol, &gb, |c| c.enrich.retries = 1).await;
    let (_, _, state, data) =
        enrich(&srv, json!({"books": [{"title": "A", "isbn": isbn_a}]})).await;
    assert_eq!(state["successCount"], 1);
    assert_eq!(
        data["books"][0]["provider"], "google_books",
        "malformed JSON falls through"
    );
    assert_eq!(
        data["books"][0]["metadata"]["coverUrl"],
        "https://books.google.com/t"
    );
    let (_, _, state, data) =
        enrich(&srv, json!({"books": [{"title": "B", "isbn": isbn_b}]})).await;
    assert_eq!(state["successCount"], 1);
    assert_eq!(
        data["books"][0]["provider"], "google_books",
        "a timeout falls through"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_errors_fail_the_book_not_the_job_and_are_not_cached() {
    let (ol, gb) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("GET"))
        .and(path("/api/books"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&ol)
        .await;
    let quota = json!({"error": {"code": 429, "message": "Quota exceeded for quota metric 'Queries' and limit 'Queries per day'",
        "errors": [{"reason": "rateLimitExceeded"}], "status": "RESOURCE_EXHAUSTED"}});
    Mock::given(method("GET"))
        .and(path("/volumes"))
        .respond_with(ResponseTemplate::new(403).set_body_json(quota))
        .mount(&gb)
        .await;
    let srv = server(&ol, &gb, |_| {}).await;
    let books =
        json!({"books": [{"title": "A", "isbn": isbn13(21)}, {"title": "B", "isbn": isbn13(22)}]});
    let (_, _, state, data) = enrich(&srv, books.clone()).await;
    assert_eq!(state["status"], "complete");
    assert_eq!(state["failureCount"], 2);
    let msg = data["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("google_books quota exhausted (HTTP 403)"),
        "{msg}"
    );
    // Nothing cached for an answer that was not definite: asked again.
    let n = gb.received_requests().await.unwrap().len();
    enrich(&srv, books).await;
    assert!(gb.received_requests().await.unwrap().len() > n);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_network_every_book_fails_fast_and_the_job_completes() {
    // Nothing listens on these ports: connections are refused.
    let srv = TestServer::start(|c| {
        c.ready_timeout = Duration::ZERO;
        c.enrich.openlibrary_url = "http://127.0.0.1:9".into();
        c.enrich.google_books_url = "http://127.0.0.1:9".into();
        c.enrich.openlibrary_rate = 50.0;
        c.enrich.google_books_rate = 50.0;
    })
    .await;
    let books: Vec<Value> = (0..200)
        .map(|i| json!({"title": format!("B{i}"), "isbn": isbn13(100 + i)}))
        .collect();
    let t = Instant::now();
    let (_, _, state, data) = enrich(&srv, json!({"books": books})).await;
    assert_eq!(state["status"], "complete");
    assert_eq!(state["failureCount"], 200);
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "fails fast: {:?}",
        t.elapsed()
    );
    let msg = data["errors"][199]["message"].as_str().unwrap();
    assert!(
        msg.contains("open_library") && msg.contains("unreachable"),
        "{msg}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_mode_uses_the_local_catalog_only() {
    let srv = TestServer::start(|c| {
        c.ready_timeout = Duration::ZERO;
        c.enrich.offline = true;
        c.enrich.openlibrary_url = "http://127.0.0.1:9".into();
    })
    .await;
    let line = "/type/edition\t/books/OL10000003M\t3\t2026-01-03T07:51:31.882542\t{\"title\": \"Index to the House of Lords Parliamentary Debates\", \"authors\": [{\"key\": \"/authors/OL46053A\"}], \"publish_date\": \"December 31, 1996\", \"publishers\": [\"Stationery Office Books\"], \"subjects\": [\"Central government\"], \"isbn_10\": [\"0107716836\"], \"isbn_13\": [\"9780107716837\"], \"number_of_pages\": 8}";
    let entries = bookstrack_server::pipelines::enrichment::catalog::entries_from_dump_line(line);
    srv.app
        .pipelines
        .lookups
        .catalog_put(entries)
        .await
        .unwrap();
    let (_, _, state, data) = enrich(
        &srv,
        json!({"books": [{"title": "x", "isbn": "0107716836"}, {"title": "Index to the House of Lords Parliamentary Debates"}, {"title": "Elsewhere", "isbn": isbn13(5)}]}),
    )
    .await;
    assert_eq!(
        (
            state["successCount"].as_u64(),
            state["failureCount"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(data["books"][0]["provider"], "local_catalog");
    assert_eq!(
        data["books"][0]["metadata"]["publisher"],
        "Stationery Office Books"
    );
    assert_eq!(
        data["books"][1]["provider"], "local_catalog",
        "found by title"
    );
    assert!(data["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("local_catalog: not found"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_answer_falls_through_to_the_next_provider() {
    let (ol, gb) = (MockServer::start().await, MockServer::start().await);
    let body = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/googlebooks_quota_429.json"),
    )
    .unwrap();
    Mock::given(method("GET"))
        .and(path("/volumes"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_string(body)
                .insert_header("Retry-After", "120"),
        )
        .mount(&gb)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/books"))
        .respond_with(BooksApi::default())
        .mount(&ol)
        .await;
    // Google Books first, then Open Library.
    let srv = server(&ol, &gb, |c| {
        c.enrich.providers = vec!["googlebooks".into(), "openlibrary".into()];
    })
    .await;
    let t = Instant::now();
    let (_, _, state, data) =
        enrich(&srv, json!({"books": [{"title": "A", "isbn": isbn13(31)}]})).await;
    assert_eq!(state["successCount"], 1);
    assert_eq!(data["books"][0]["provider"], "open_library");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "a Retry-After of 2 minutes is not waited for"
    );
    srv.stop().await;
}
