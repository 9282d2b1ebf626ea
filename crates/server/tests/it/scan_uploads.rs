//! Shelf scans that do not read offline: Gemini against a fake server, a
//! batch with a photo Gemini refuses, and uploads refused before a job.

use super::scan::{catalog, png, upload};
use crate::common::*;
use bookstrack_testkit::shelf::SHELF;
use image::DynamicImage;
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_before_a_job_starts() {
    let srv = TestServer::start(|c| {
        c.scan.max_photo_bytes = 64 * 1024;
        c.scan.max_photos = 2;
    })
    .await;
    let (s, b) = upload(
        &srv,
        "/api/scan-bookshelf",
        "image",
        vec![b"just some text, named .jpg".to_vec()],
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (415, Some("UNSUPPORTED_MEDIA_TYPE"))
    );
    let mut corrupt = b"\x89PNG\r\n\x1a\n".to_vec();
    corrupt.extend_from_slice(&[7u8; 200]);
    let (s, b) = upload(&srv, "/api/scan-bookshelf", "image", vec![corrupt]).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("AI_SCAN_ERROR"))
    );
    let mut big = vec![0xFF, 0xD8, 0xFF, 0xE0];
    big.resize(64 * 1024 + 1, 0);
    let (s, _) = upload(&srv, "/api/scan-bookshelf", "image", vec![big]).await;
    assert_eq!(s, 413);
    let small = png(&DynamicImage::new_rgb8(8, 8));
    let (s, _) = upload(
        &srv,
        "/api/scan-bookshelf/batch",
        "photos",
        vec![small.clone(), small.clone(), small],
    )
    .await;
    assert_eq!(s, 400, "more photos than the limit");
    let (s, _) = upload(
        &srv,
        "/api/scan-bookshelf",
        "photos",
        vec![png(&DynamicImage::new_rgb8(8, 8))],
    )
    .await;
    assert_eq!(s, 400, "the single scan's field is `image`");
    assert_eq!(
        std::fs::read_dir(srv.dir.path().join("uploads"))
            .unwrap()
            .count(),
        0,
        "nothing left behind"
    );
    srv.stop().await;
}

/// A `generateContent` fake: answers in the real shape, failing the second call.
struct FakeGemini(std::sync::atomic::AtomicUsize);

impl Respond for FakeGemini {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert!(
            body.pointer("/contents/0/parts/1/inline_data/data")
                .is_some(),
            "the photo is inline"
        );
        assert!(body.pointer("/generationConfig/response_schema").is_some());
        if n == 1 {
            return ResponseTemplate::new(400).set_body_json(json!({"error": {"code": 400, "message": "Unable to process input image.", "status": "INVALID_ARGUMENT"}}));
        }
        let books = json!([{"title": "Dracula", "author": "Bram Stoker", "confidence": 0.92}, {"title": "Some Unknown Book", "confidence": 0.31}]);
        ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{"content": {"parts": [{"text": books.to_string()}], "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 1290, "candidatesTokenCount": 40, "totalTokenCount": 1330},
            "modelVersion": "gemini-2.0-flash"
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_provider_and_a_batch_with_one_bad_photo() {
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1beta/models/.+:generateContent$"))
        .respond_with(FakeGemini(Default::default()))
        .mount(&fake)
        .await;
    let uri = fake.uri();
    let srv = TestServer::start(move |c| {
        c.ready_timeout = Duration::ZERO;
        c.scan.provider = "gemini".into();
        c.scan.gemini_url = uri;
        c.scan.gemini_api_key = Some("test-key".into());
        c.scan.retries = 0;
        c.enrich.providers = vec!["cache".into(), "catalog".into()];
    })
    .await;
    srv.app
        .pipelines
        .lookups
        .catalog_put(catalog(&SHELF))
        .await
        .unwrap();
    let p = png(&DynamicImage::new_rgb8(16, 16));
    let (s, b) = upload(
        &srv,
        "/api/scan-bookshelf/batch",
        "photos",
        vec![p.clone(), p.clone(), p],
    )
    .await;
    assert_eq!(s, 202);
    let (job, token) = (
        b["data"]["jobId"].as_str().unwrap(),
        b["data"]["token"].as_str().unwrap(),
    );
    srv.wait_terminal(job, token).await;
    let mut ws = srv.connect(job, token, "").await;
    let (msgs, _) = read_to_close(&mut ws).await;
    let result = &msgs.last().unwrap()["payload"]["result"];
    assert_eq!(
        msgs.last().unwrap()["type"],
        "job_complete",
        "one bad photo does not fail the batch"
    );
    assert_eq!(result["failedPhotos"][0]["photo"], 2);
    let books = result["books"].as_array().unwrap();
    assert_eq!(books.len(), 2, "Dracula from photos 1 and 3");
    assert!(books
        .iter()
        .all(|b| b["title"] == "Dracula" && b["isbn"].is_string()));
    assert_eq!(result["suggestions"][0]["title"], "Some Unknown Book");
    let key = fake.received_requests().await.unwrap()[0]
        .headers
        .get("x-goog-api-key")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(key, "test-key");
    // Detected books have work ids that enrichment takes.
    let work_id = books[0]["workId"].as_str().unwrap().to_string();
    let (s, v, _) = srv
        .post_json_with(
            "/api/enrichment/start",
            &json!({"workIds": [work_id]}),
            &[("X-Bookstrack-Job-Tokens", token)],
        )
        .await;
    assert_eq!(s, 202, "the scan's token opens its works");
    let (ej, et) = (
        v["data"]["jobId"].as_str().unwrap(),
        v["data"]["token"].as_str().unwrap(),
    );
    let state = srv.wait_terminal(ej, et).await;
    assert_eq!(
        state["successCount"], 1,
        "found in the local catalog by the detected ISBN"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_readable_is_an_ai_scan_error() {
    let srv = TestServer::start(|c| {
        c.ready_timeout = Duration::ZERO;
        c.scan.provider = "gemini".into();
        c.scan.gemini_url = "http://127.0.0.1:9".into();
        c.scan.gemini_api_key = Some("k".into());
        c.scan.retries = 0;
        c.scan.timeout = Duration::from_secs(2);
    })
    .await;
    let (s, b) = upload(
        &srv,
        "/api/scan-bookshelf",
        "image",
        vec![png(&DynamicImage::new_rgb8(8, 8))],
    )
    .await;
    assert_eq!(s, 202);
    assert_eq!(b["data"]["message"], "Scan started");
    let (job, token) = (
        b["data"]["jobId"].as_str().unwrap(),
        b["data"]["token"].as_str().unwrap(),
    );
    let state = srv.wait_terminal(job, token).await;
    assert_eq!(state["status"], "failed");
    let mut ws = srv.connect(job, token, "").await;
    let (msgs, _) = read_to_close(&mut ws).await;
    assert_eq!(
        msgs.last().unwrap()["payload"]["error"]["code"],
        "AI_SCAN_ERROR"
    );
    srv.stop().await;
}
