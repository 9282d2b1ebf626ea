//! No job's data without that job's token (issue 17, docs/PROTOCOL.md
//! §4.3): user B reaches none of user A's books by `workIds` nor through a
//! shelf scan, and a refused work id is answered as one that never existed;
//! presenting A's token (`X-Bookstrack-Job-Tokens`) opens them.

use super::scan::png;
use crate::common::*;
use image::DynamicImage;
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKENS: &str = "X-Bookstrack-Job-Tokens";

/// A Gemini that reads one of user A's titles off every photo.
async fn gemini() -> MockServer {
    let fake = MockServer::start().await;
    let books =
        json!([{"title": "Book 1: A Novel, Part 1", "author": "Author 1", "confidence": 0.9}]);
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1beta/models/.+:generateContent$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{"content": {"parts": [{"text": books.to_string()}], "role": "model"}, "finishReason": "STOP", "index": 0}],
        })))
        .mount(&fake)
        .await;
    fake
}

async fn server(gemini: &MockServer) -> TestServer {
    let uri = gemini.uri();
    TestServer::start(move |c| {
        c.ready_timeout = Duration::ZERO;
        c.enrich.offline = true;
        c.scan.provider = "gemini".into();
        c.scan.gemini_url = uri;
        c.scan.gemini_api_key = Some("k".into());
        c.scan.retries = 0;
        c.max_presented_tokens = 2;
    })
    .await
}

/// An ended import: (job, token, its books). User A imports `rows` books;
/// user B (`rows` 0) one book of its own, with nothing of A's.
async fn import(srv: &TestServer, rows: usize) -> (String, String, Vec<Value>) {
    let csv = match rows {
        0 => goodreads_csv(1, &[])
            .replace("Book 0: A Novel, Part 0", "Walden")
            .replace(&isbn13(12345), &isbn13(999)),
        n => goodreads_csv(n, &[]),
    };
    let (job, token) = srv.start_import(&csv).await;
    srv.wait_terminal(&job, &token).await;
    let (_, res) = srv
        .get(&format!("/api/jobs/{job}/results"), Some(&token))
        .await;
    let books = res["data"]["books"].as_array().unwrap().clone();
    (job, token, books)
}

/// A scan of one photo presenting `tokens`: its `job_complete` result.
async fn scan(srv: &TestServer, tokens: &str) -> Value {
    let photo = png(&DynamicImage::new_rgb8(16, 16));
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(photo).file_name("p.png"),
    );
    let r = srv
        .http
        .post(format!("{}/api/scan-bookshelf", srv.url))
        .header(TOKENS, tokens)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let b: Value = r.json().await.unwrap();
    let (job, token) = (
        b["data"]["jobId"].as_str().unwrap(),
        b["data"]["token"].as_str().unwrap(),
    );
    srv.wait_terminal(job, token).await;
    let mut ws = srv.connect(job, token, "").await;
    let (msgs, _) = read_to_close(&mut ws).await;
    let last = msgs.last().unwrap();
    assert_eq!(last["type"], "job_complete", "{last}");
    last["payload"]["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_b_cannot_reach_user_a_books_by_work_id() {
    let g = gemini().await;
    let srv = server(&g).await;
    let (_, a_token, a_books) = import(&srv, 3).await;
    let (_, b_token, _) = import(&srv, 0).await;
    let a_id = a_books[2]["workId"].as_str().unwrap().to_string();
    let post = |ids: Vec<String>, tokens: Option<String>| {
        let srv = &srv;
        async move {
            let headers: Vec<(&str, String)> =
                tokens.map(|t| vec![(TOKENS, t)]).unwrap_or_default();
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            srv.post_json_with("/api/enrichment/start", &json!({"workIds": ids}), &h)
                .await
        }
    };
    let nonexistent = "w0000000000000000".to_string();
    let (s_none, b_none, _) = post(vec![nonexistent.clone()], Some(b_token.clone())).await;
    let (s_a, b_a, _) = post(vec![a_id.clone()], Some(b_token.clone())).await;
    assert_eq!(s_none, 404);
    assert_eq!(s_a, 404, "A's work with B's token: {b_a}");
    assert_eq!(b_a["error"]["code"], b_none["error"]["code"]);
    assert_eq!(
        b_a["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&a_id, "ID"),
        b_none["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&nonexistent, "ID"),
        "the same answer as a work that never existed"
    );
    assert_eq!(post(vec![a_id.clone()], None).await.0, 404, "no token");
    let forged = "f".repeat(64);
    assert_eq!(
        post(vec![a_id.clone()], Some(forged)).await.0,
        404,
        "a made-up token"
    );
    let (s, b, _) = post(vec![a_id.clone()], Some(format!("{b_token}, {a_token}"))).await;
    assert_eq!(s, 202, "A's token presented: {b}");
    let too_many = format!("{b_token}, {a_token}, {b_token}");
    let (s, b, _) = post(vec![a_id], Some(too_many)).await;
    assert_eq!(s, 400, "one past --max-presented-tokens: {b}");
    assert_eq!(b["error"]["code"], "INVALID_REQUEST");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_matches_only_the_imports_whose_tokens_it_presents() {
    let g = gemini().await;
    let srv = server(&g).await;
    let (_, a_token, a_books) = import(&srv, 3).await;
    let (_, b_token, _) = import(&srv, 0).await;
    let a_isbn = a_books[1]["isbn13"].as_str().unwrap().to_string();
    let a_work = a_books[1]["workId"].as_str().unwrap().to_string();

    let result = scan(&srv, &b_token).await;
    let text = result.to_string();
    assert!(
        !text.contains(&a_isbn) && !text.contains(&a_work),
        "B's scan shows nothing of A's import: {result}"
    );
    assert!(result["books"].as_array().unwrap().is_empty(), "{result}");
    let read = result["suggestions"][0]["title"].as_str().unwrap();
    assert!(
        read.starts_with("Book 1: A Novel, Part 1"),
        "only what B's photo shows: {read}"
    );

    let result = scan(&srv, &a_token).await;
    let books = result["books"].as_array().unwrap();
    assert_eq!(books.len(), 1, "A's own scan matches A's import: {result}");
    assert_eq!(books[0]["isbn"], a_isbn.as_str());
    assert_eq!(books[0]["workId"], a_work.as_str());
    srv.stop().await;
}
