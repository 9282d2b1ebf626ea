//! Enrichment against local fake Open Library / Google Books servers that
//! answer in the real shapes: batching, search fallback, 429 + Retry-After,
//! malformed JSON, timeouts, quota errors, offline, cache hits, work ids.

mod fair;
mod fallbacks;
mod outbound;

use crate::common::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// `/api/books?jscmd=data` for every requested ISBN except `unknown`.
#[derive(Clone, Default)]
pub(super) struct BooksApi {
    unknown: HashSet<String>,
    /// Requests allowed per rolling second; beyond it, 429.
    limit: Option<usize>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    over_limit: Arc<Mutex<usize>>,
}

pub(super) fn bibkeys(req: &Request) -> Vec<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == "bibkeys")
        .map(|(_, v)| {
            v.split(',')
                .map(|k| k.trim_start_matches("ISBN:").to_string())
                .collect()
        })
        .unwrap_or_default()
}

impl Respond for BooksApi {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Some(limit) = self.limit {
            let mut a = self.arrivals.lock().unwrap();
            let now = Instant::now();
            a.retain(|t| now.duration_since(*t) < Duration::from_secs(1));
            if a.len() >= limit {
                *self.over_limit.lock().unwrap() += 1;
                return ResponseTemplate::new(429).insert_header("Retry-After", "1");
            }
            a.push(now);
        }
        let mut body = serde_json::Map::new();
        for isbn in bibkeys(req) {
            if self.unknown.contains(&isbn) {
                continue;
            }
            body.insert(
                format!("ISBN:{isbn}"),
                json!({
                    "url": format!("https://openlibrary.org/books/OL1M/{isbn}"),
                    "key": "/books/OL1M",
                    "title": format!("Title {isbn}"),
                    "authors": [{"url": "https://openlibrary.org/authors/OL1A", "name": "Some Author"}],
                    "identifiers": {"isbn_13": [isbn]},
                    "publishers": [{"name": "Gallimard"}],
                    "publish_date": "October 1, 1988",
                    "number_of_pages": 96,
                    "subjects": [{"name": "Fiction", "url": "https://openlibrary.org/subjects/fiction"}],
                    "cover": {"small": "https://covers/s.jpg", "medium": "https://covers/m.jpg", "large": "https://covers/l.jpg"},
                }),
            );
        }
        ResponseTemplate::new(200).set_body_json(Value::Object(body))
    }
}

pub(super) async fn server(
    ol: &MockServer,
    gb: &MockServer,
    tweak: impl FnOnce(&mut bookstrack_server::Config),
) -> TestServer {
    let (olu, gbu) = (ol.uri(), gb.uri());
    TestServer::start(move |c| {
        c.ready_timeout = Duration::ZERO;
        c.enrich.openlibrary_url = olu;
        c.enrich.google_books_url = gbu;
        c.enrich.openlibrary_rate = 50.0;
        c.enrich.google_books_rate = 50.0;
        c.enrich.timeout = Duration::from_millis(800);
        c.enrich.retries = 2;
        tweak(c);
    })
    .await
}

pub(super) async fn enrich(srv: &TestServer, body: Value) -> (String, String, Value, Value) {
    let (status, v) = srv.post_json("/api/enrichment/start", &body).await;
    assert_eq!(status, 202);
    let (job, token) = (
        v["data"]["jobId"].as_str().unwrap().to_string(),
        v["data"]["token"].as_str().unwrap().to_string(),
    );
    let state = srv.wait_terminal(&job, &token).await;
    let (_, res) = srv
        .get(&format!("/api/jobs/{job}/results"), Some(&token))
        .await;
    (job, token, state, res["data"].clone())
}

pub(super) async fn gb_empty(gb: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/volumes"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"kind": "books#volumes", "totalItems": 0})),
        )
        .mount(gb)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isbns_are_batched_25_per_request_and_a_rerun_hits_the_cache() {
    let (ol, gb) = (MockServer::start().await, MockServer::start().await);
    let unknown: HashSet<String> = [isbn13(7)].into();
    Mock::given(method("GET"))
        .and(path("/api/books"))
        .respond_with(BooksApi {
            unknown,
            ..Default::default()
        })
        .mount(&ol)
        .await;
    gb_empty(&gb).await;
    let srv = server(&ol, &gb, |_| {}).await;
    let books: Vec<Value> = (0..60)
        .map(|i| json!({"title": format!("B{i}"), "isbn": isbn13(i)}))
        .collect();
    let (job, token, state, data) = enrich(&srv, json!({"books": books})).await;
    assert_eq!(state["status"], "complete");
    assert_eq!(
        (
            state["successCount"].as_u64(),
            state["failureCount"].as_u64()
        ),
        (Some(59), Some(1))
    );
    let ol_requests = ol.received_requests().await.unwrap();
    assert_eq!(ol_requests.len(), 3, "60 ISBNs in batches of 25");
    assert!(ol_requests.iter().all(|r| r
        .headers
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("bookstrack/")));
    let first = &data["books"][0];
    assert_eq!(first["provider"], "open_library");
    assert_eq!(first["metadata"]["publisher"], "Gallimard");
    assert_eq!(first["metadata"]["year"], 1988);
    assert_eq!(first["metadata"]["pages"], 96);
    assert_eq!(first["metadata"]["coverUrl"], "https://covers/l.jpg");
    assert_eq!(first["metadata"]["subjects"][0], "Fiction");
    let err = &data["errors"][0];
    assert_eq!(err["row"], 8);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("open_library: not found"),
        "{err}"
    );
    assert_eq!(
        gb.received_requests().await.unwrap().len(),
        1,
        "only the unknown book falls through"
    );

    // Progress per book, with the book's title.
    let mut ws = srv.connect(&job, &token, "").await;
    let (msgs, _) = read_to_close(&mut ws).await;
    let progress: Vec<&Value> = msgs
        .iter()
        .filter(|m| m["type"] == "job_progress")
        .collect();
    assert_eq!(progress.len(), 60);
    assert_eq!(progress[0]["payload"]["status"], "Enriching: B0");
    assert_eq!(progress[0]["pipeline"], "batch_enrichment");

    // The same books again: every answer comes from the cache, no request.
    let before = (
        ol.received_requests().await.unwrap().len(),
        gb.received_requests().await.unwrap().len(),
    );
    let t = Instant::now();
    let (_, _, state, data) = enrich(&srv, json!({"books": books})).await;
    assert_eq!(
        (
            state["successCount"].as_u64(),
            state["failureCount"].as_u64()
        ),
        (Some(59), Some(1))
    );
    assert_eq!(data["books"][0]["provider"], "cache:open_library");
    let after = (
        ol.received_requests().await.unwrap().len(),
        gb.received_requests().await.unwrap().len(),
    );
    assert_eq!(before, after, "a second run makes no request");
    eprintln!("second run: {:?}", t.elapsed());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_without_isbn_use_search_best_match_only() {
    let (ol, gb) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("GET"))
        .and(path("/search.json"))
        .respond_with(|req: &Request| {
            let title = req.url.query_pairs().find(|(k, _)| k == "title").map(|(_, v)| v.to_string()).unwrap_or_default();
            let docs = if title == "Dune" {
                json!([
                    {"key": "/works/OL2W", "title": "Dune Messiah", "author_name": ["Frank Herbert"], "isbn": ["9780593098233"]},
                    {"key": "/works/OL893414W", "title": "Dune", "author_name": ["Frank Herbert", "Френк Герберт"],
                     "isbn": ["0450035697", "9780425043769"], "first_publish_year": 1965, "number_of_pages_median": 605,
                     "cover_i": 11481354, "publisher": ["Ace"], "subject": ["Science fiction"]}
                ])
            } else {
                json!([{"key": "/works/OL3W", "title": "Something Else Entirely", "author_name": ["Nobody"]}])
            };
            ResponseTemplate::new(200).set_body_json(json!({"numFound": 2, "start": 0, "docs": docs}))
        })
        .mount(&ol)
        .await;
    gb_empty(&gb).await;
    let srv = server(&ol, &gb, |_| {}).await;
    let (_, _, state, data) = enrich(
        &srv,
        json!({"books": [{"title": "Dune", "author": "Frank Herbert"}, {"title": "Unfindable Book", "author": "X"}]}),
    )
    .await;
    assert_eq!(state["status"], "complete");
    let b = &data["books"][0];
    assert_eq!(b["metadata"]["title"], "Dune");
    assert_eq!(b["metadata"]["isbn13"], "9780425043769");
    assert_eq!(b["metadata"]["year"], 1965);
    assert_eq!(
        b["metadata"]["coverUrl"],
        "https://covers.openlibrary.org/b/id/11481354-L.jpg"
    );
    let err = data["errors"][0]["message"].as_str().unwrap();
    assert!(
        err.contains("open_library: not found") && err.contains("google_books: not found"),
        "{err}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_waited_out() {
    let (ol, gb) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("GET"))
        .and(path("/api/books"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&ol)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/books"))
        .respond_with(BooksApi::default())
        .with_priority(2)
        .mount(&ol)
        .await;
    gb_empty(&gb).await;
    let srv = server(&ol, &gb, |_| {}).await;
    let t = Instant::now();
    let (_, _, state, data) =
        enrich(&srv, json!({"books": [{"title": "A", "isbn": isbn13(1)}]})).await;
    assert_eq!(state["successCount"], 1);
    assert_eq!(data["books"][0]["provider"], "open_library");
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    assert_eq!(ol.received_requests().await.unwrap().len(), 2);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_books_are_enriched_by_work_id_and_job_ids_are_checked() {
    let (ol, gb) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("GET"))
        .and(path("/api/books"))
        .respond_with(BooksApi::default())
        .mount(&ol)
        .await;
    gb_empty(&gb).await;
    let srv = server(&ol, &gb, |_| {}).await;
    let (job, token) = srv.start_import(&goodreads_csv(5, &[])).await;
    srv.wait_terminal(&job, &token).await;
    let (_, res) = srv
        .get(&format!("/api/jobs/{job}/results"), Some(&token))
        .await;
    let ids: Vec<Value> = res["data"]["books"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["workId"].clone())
        .collect();
    assert!(ids.iter().all(|w| w.as_str().unwrap().starts_with('w')));
    let my_id = "0196a8d2-7f00-7c00-8000-000000000001";
    let body = json!({"jobId": my_id, "workIds": ids});
    let (s, _, _) = srv
        .post_json_with("/api/enrichment/start", &body, &[])
        .await;
    assert_eq!(s, 404, "without the import's token its works are unknown");
    let tokens = [("X-Bookstrack-Job-Tokens", token.as_str())];
    let (s, v, _) = srv
        .post_json_with("/api/enrichment/start", &body, &tokens)
        .await;
    assert_eq!(s, 202, "{v}");
    let eid = v["data"]["jobId"].as_str().unwrap().to_string();
    let etoken = v["data"]["token"].as_str().unwrap().to_string();
    let state = srv.wait_terminal(&eid, &etoken).await;
    let (_, res) = srv
        .get(&format!("/api/jobs/{eid}/results"), Some(&etoken))
        .await;
    let data = res["data"].clone();
    assert_eq!(eid, my_id, "the client's job id is used");
    assert_eq!(state["successCount"], 5);
    assert_eq!(data["books"][0]["workId"], ids[0]);
    assert_eq!(
        data["books"][0]["query"]["title"],
        "Book 0: A Novel, Part 0"
    );

    let server = &srv; // a shared borrow keeps the closure callable again
    let post = |body: Value| async move { server.post_json("/api/enrichment/start", &body).await };
    let (s, b) = post(json!({"jobId": my_id, "books": [{"title": "x"}]})).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("CONFLICT")),
        "a job id is used once"
    );
    let (s, _) = post(json!({"jobId": "not-a-uuid", "books": [{"title": "x"}]})).await;
    assert_eq!(s, 400);
    let (s, _) = post(json!({"workIds": ["wdeadbeef"]})).await;
    assert_eq!(s, 404);
    let (s, _) = post(json!({"books": []})).await;
    assert_eq!(s, 400);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_book_limit_per_job_is_exact() {
    let srv = TestServer::start(|c| {
        c.enrich.max_books = 3;
        c.enrich.offline = true;
    })
    .await;
    let books = |n: usize| json!({"books": (0..n).map(|i| json!({"title": format!("T{i}")})).collect::<Vec<_>>()});
    let (s, _) = srv.post_json("/api/enrichment/start", &books(3)).await;
    assert_eq!(s, 202);
    let (s, _) = srv.post_json("/api/enrichment/start", &books(4)).await;
    assert_eq!(s, 413);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_is_never_exceeded() {
    let (ol, gb) = (MockServer::start().await, MockServer::start().await);
    let api = BooksApi {
        limit: Some(3),
        ..Default::default()
    };
    let over = api.over_limit.clone();
    Mock::given(method("GET"))
        .and(path("/api/books"))
        .respond_with(api)
        .mount(&ol)
        .await;
    gb_empty(&gb).await;
    let srv = server(&ol, &gb, |c| c.enrich.openlibrary_rate = 3.0).await;
    let books: Vec<Value> = (0..200)
        .map(|i| json!({"title": format!("B{i}"), "isbn": isbn13(1000 + i)}))
        .collect();
    let (_, _, state, _) = enrich(&srv, json!({"books": books})).await;
    assert_eq!(state["successCount"], 200);
    assert_eq!(
        ol.received_requests().await.unwrap().len(),
        8,
        "200 ISBNs in 8 requests"
    );
    assert_eq!(*over.lock().unwrap(), 0, "no request over 3 per second");
    srv.stop().await;
}
