//! The CSV import flow end to end over HTTP and WebSocket, its auth paths,
//! its limits and the v1 format.

use crate::common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goodreads_import_streams_every_event_and_keeps_results() {
    let srv = TestServer::start(|_| {}).await;
    let (status, body) = srv.upload(goodreads_csv(120, &[7, 50]).into_bytes()).await;
    assert_eq!(status, 202);
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["message"], "CSV parsing started");
    assert!(body["meta"]["timestamp"].as_i64().unwrap() > 0);
    let job = body["data"]["jobId"].as_str().unwrap();
    let token = body["data"]["token"].as_str().unwrap();
    assert_eq!(token.len(), 64);

    let mut ws = srv.connect(job, token, "").await;
    send_ready(&mut ws).await;
    let (msgs, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(CLOSE_NORMAL));
    let ack = &msgs[0];
    assert_eq!(ack["type"], "ready_ack");
    let events: Vec<&Value> = msgs.iter().filter(|m| m["seq"].is_u64()).collect();
    let owned: Vec<Value> = events.iter().map(|v| (*v).clone()).collect();
    let last = assert_contiguous(&owned, 1);
    assert_eq!(events[0]["type"], "job_started");
    assert_eq!(events[0]["payload"]["totalCount"], 120);
    let end = events.last().unwrap();
    assert_eq!(end["type"], "job_complete");
    assert_eq!(end["payload"]["result"]["totalBooks"], 120);
    assert_eq!(end["payload"]["result"]["successCount"], 118);
    assert_eq!(end["payload"]["result"]["failureCount"], 2);
    let mut previous = 0.0;
    for e in &events[1..events.len() - 1] {
        assert_eq!(e["type"], "job_progress");
        let p = e["payload"]["progress"].as_f64().unwrap();
        assert!(p >= previous, "progress is monotonic");
        previous = p;
    }
    for m in &msgs {
        assert_eq!(m["pipeline"], "csv_import");
        assert_eq!(m["version"], "1.0.0");
        assert_eq!(m["jobId"], job);
        assert_eq!(m["type"], m["payload"]["type"]);
    }

    let (s, state) = srv.get(&format!("/api/job-state/{job}"), Some(token)).await;
    assert_eq!(s, 200);
    assert_eq!(state["status"], "complete");
    assert_eq!(state["lastSeq"], last);
    assert_eq!(state["processedCount"], 120);
    assert!(state["endTime"].as_i64().is_some());

    let (s, res) = srv
        .get(&format!("/api/jobs/{job}/results"), Some(token))
        .await;
    assert_eq!(s, 200);
    let books = res["data"]["books"].as_array().unwrap();
    assert_eq!(books.len(), 118);
    assert_eq!(books[0]["title"], "Book 0: A Novel, Part 0");
    assert_eq!(books[0]["author"], "Author 0");
    assert_eq!(books[0]["authors"][0]["name"], "Author 0");
    assert_eq!(books[0]["isbn13"].as_str().unwrap().len(), 13);
    assert_eq!(books[0]["status"], "read");
    assert_eq!(books[0]["dateRead"], "2024-01-02");
    let errors = res["data"]["errors"].as_array().unwrap();
    let rows: Vec<u64> = errors.iter().map(|e| e["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, vec![9, 52], "row numbers count the header as row 1");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_not_found_paths() {
    let srv = TestServer::start(|_| {}).await;
    let (job, token) = srv.start_import(&goodreads_csv(3, &[])).await;

    let (s, b) = srv.refused(&format!("jobId={job}")).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("INVALID_TOKEN"))
    );
    assert_eq!(b["error"]["message"], "Unauthorized");
    let (s, _) = srv.refused(&format!("jobId={job}&token=wrong")).await;
    assert_eq!(s, 401);
    let (s, b) = srv.refused(&format!("jobId=nope&token={token}")).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("JOB_NOT_FOUND"))
    );

    let (s, b) = srv.get(&format!("/api/job-state/{job}"), None).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (401, Some("Invalid or expired token"))
    );
    let (s, b) = srv
        .get(&format!("/api/job-state/{job}"), Some("wrong"))
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (401, Some("Invalid or expired token"))
    );
    let (s, b) = srv.get("/api/job-state/nope", Some(&token)).await;
    assert_eq!((s, b["error"].as_str()), (404, Some("Job not found")));
    let (s, b) = srv
        .get(&format!("/api/jobs/{job}/results"), Some("wrong"))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("INVALID_TOKEN"))
    );
    let (s, _) = srv.get("/api/jobs/nope/results", Some(&token)).await;
    assert_eq!(s, 404);

    let metrics = srv.metrics().await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("bookstrack_auth_failures_total "))
        .unwrap();
    assert_eq!(
        line, "bookstrack_auth_failures_total 5",
        "unknown jobs are not auth failures"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused_with_token_expired() {
    let srv = TestServer::start(|c| c.token_ttl = std::time::Duration::from_millis(300)).await;
    let (job, token) = srv.start_import(&goodreads_csv(3, &[])).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (s, b) = srv.refused(&format!("jobId={job}&token={token}")).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("TOKEN_EXPIRED"))
    );
    assert_eq!(b["error"]["message"], "Token expired");
    let (s, _) = srv
        .get(&format!("/api/job-state/{job}"), Some(&token))
        .await;
    assert_eq!(s, 401);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_clients_get_flat_progress_messages() {
    let srv = TestServer::start(|_| {}).await;
    let (job, token) = srv.start_import(&goodreads_csv(10, &[])).await;
    let mut ws = srv.connect(&job, &token, "&protocol=v1").await;
    send_ready(&mut ws).await;
    let (msgs, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(CLOSE_NORMAL));
    assert_eq!(msgs[0]["type"], "ready_ack");
    let progress: Vec<&Value> = msgs.iter().filter(|m| m["type"] == "progress").collect();
    assert!(progress.len() >= 3);
    for m in &progress {
        assert!(m.get("payload").is_none());
        assert!(m["data"]["progress"].is_f64() || m["data"]["progress"].is_u64());
        assert!(m["data"]["currentStatus"].is_string());
        assert_eq!(m["jobId"], job.as_str());
    }
    let last = progress.last().unwrap();
    assert_eq!(last["data"]["processedItems"], 10);
    assert_eq!(last["data"]["totalItems"], 10);
    assert_eq!(last["data"]["progress"], 1.0);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_gets_pong_in_the_envelope() {
    let srv = TestServer::start(|_| {}).await;
    let (job, token) = srv.start_import(&goodreads_csv(3, &[])).await;
    let mut ws = srv.connect(&job, &token, "").await;
    use futures_util::SinkExt;
    ws.send(tungstenite::Message::text(r#"{"type":"ping"}"#))
        .await
        .unwrap();
    let pong = next_json(&mut ws).await.unwrap();
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["payload"]["type"], "pong");
    assert_eq!(pong["pipeline"], "csv_import");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_per_job_are_capped() {
    let srv = TestServer::start(|c| c.max_viewers_per_job = 2).await;
    let (job, token) = srv.start_import(&goodreads_csv(3, &[])).await;
    let _a = srv.connect(&job, &token, "").await;
    let _b = srv.connect(&job, &token, "").await;
    // The owner registers a viewer asynchronously; give it a moment.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (s, b) = srv.refused(&format!("jobId={job}&token={token}")).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (429, Some("TOO_MANY_CONNECTIONS"))
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_size_limit_is_exact() {
    let csv = goodreads_csv(5, &[]);
    let size = csv.len() as u64;
    let srv = TestServer::start(|c| c.max_upload_bytes = size).await;
    let (s, _) = srv.upload(csv.clone().into_bytes()).await;
    assert_eq!(s, 202, "a file of exactly the limit is accepted");
    let mut bigger = csv.into_bytes();
    bigger.push(b'\n');
    let (s, b) = srv.upload(bigger).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limit_is_exact() {
    let srv = TestServer::start(|c| c.max_rows = 5).await;
    let (s, _) = srv.upload(goodreads_csv(5, &[]).into_bytes()).await;
    assert_eq!(s, 202);
    let (s, b) = srv.upload(goodreads_csv(6, &[]).into_bytes()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("CSV_PARSE_ERROR"))
    );
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("limit of 5"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_refused_before_a_job_starts() {
    let srv = TestServer::start(|_| {}).await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "empty"),
        (
            vec![0x89, b'P', b'N', b'G', 0, 0, 0, 13, 0xff, 0],
            "not text",
        ),
        (b"name,colour\nfoo,red\n".to_vec(), "unrecognised header"),
        (format!("{GOODREADS_HEADER}\n").into_bytes(), "no rows"),
    ];
    for (bytes, reason) in cases {
        let (s, b) = srv.upload(bytes).await;
        assert_eq!(s, 400, "{reason}: {b}");
        assert_eq!(b["success"], false);
        assert_eq!(b["error"]["code"], "CSV_PARSE_ERROR");
        assert!(
            b["error"]["message"].as_str().unwrap().contains(reason),
            "{reason}: {b}"
        );
    }
    let form = reqwest::multipart::Form::new().text("other", "x");
    let resp = srv
        .http
        .post(format!("{}/api/import/csv", srv.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let uploads = std::fs::read_dir(srv.dir.path().join("uploads"))
        .unwrap()
        .count();
    assert_eq!(uploads, 0, "refused uploads leave nothing behind");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_gemini_alias_and_health() {
    let srv = TestServer::start(|_| {}).await;
    let part =
        reqwest::multipart::Part::bytes(goodreads_csv(2, &[]).into_bytes()).file_name("a.csv");
    let resp = srv
        .http
        .post(format!("{}/api/import/csv-gemini", srv.url))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let health = srv
        .http
        .get(format!("{}/healthz", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_in_one_import_are_merged_and_counted() {
    let srv = TestServer::start(|_| {}).await;
    let csv = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/goodreads_legacy.csv"),
    )
    .unwrap();
    let (job, token) = srv.start_import(std::str::from_utf8(&csv).unwrap()).await;
    let mut ws = srv.connect(&job, &token, "").await;
    send_ready(&mut ws).await;
    let (msgs, _) = read_to_close(&mut ws).await;
    let result = &msgs.last().unwrap()["payload"]["result"];
    assert_eq!(result["totalBooks"], 5);
    assert_eq!(
        result["successCount"], 4,
        "a merged duplicate is an imported row"
    );
    assert_eq!(result["failureCount"], 1);
    assert_eq!(result["duplicates"], 1);
    assert_eq!(result["uniqueBooks"], 3);
    assert_eq!(result["format"], "goodreads");
    let (_, res) = srv
        .get(&format!("/api/jobs/{job}/results"), Some(&token))
        .await;
    assert_eq!(res["data"]["books"].as_array().unwrap().len(), 3);
    let dups = res["data"]["duplicates"].as_array().unwrap();
    assert_eq!(dups.len(), 1);
    assert_eq!(
        (dups[0]["row"].as_u64(), dups[0]["duplicateOfRow"].as_u64()),
        (Some(5), Some(2))
    );
    assert_eq!(res["data"]["errors"][0]["row"], 6);
    srv.stop().await;
}
