//! The HTTP side's resource limits of issue 17, each at its edge: results
//! streamed page by page and bounded in number, multipart part headers and
//! small fields, request bodies that stop arriving, the output a job may
//! write, and the data directory's modes. Photos are in `limits_scan.rs`,
//! outbound requests in `enrichment/outbound.rs`.

use crate::common::*;
use axum::body::Body;
use bookstrack_protocol::{JobState, JobStatus, Pipeline, RowError};
use bookstrack_server::store::{Checkpoint, Item, NewJob};
use bookstrack_server::{clock, token};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

/// A job written straight to the store: `rows` books, every 10th of them
/// merged into an earlier row, and a row error every 7th; with its token.
async fn stored_job(srv: &TestServer, id: &str, rows: u64) -> String {
    let (tok, hash) = token::generate();
    let store = &srv.app.jobs.store;
    let mut state = JobState::new(id, Pipeline::CsvImport, clock::now_ms());
    store
        .create_job(NewJob {
            state: state.clone(),
            token_hash: hash,
            token_expires_at: clock::now_ms() + 3_600_000,
            input_path: None,
            params: json!({}),
            publisher: None,
        })
        .await
        .unwrap();
    let items = (0..rows)
        .map(|i| {
            let mut v =
                json!({"title": format!("Book \"{i}\" ü"), "row": i + 2, "zeta": [i, null]});
            if i % 10 == 9 {
                v["duplicateOfRow"] = json!(i - 7);
            }
            Item::new(v.to_string())
        })
        .collect();
    let errors = (0..rows / 7)
        .map(|i| RowError {
            row: i * 7 + 2,
            message: format!("no title <{i}>"),
        })
        .collect();
    state.status = JobStatus::Complete;
    state.total_count = rows;
    state.success_count = rows - rows / 7;
    state.failure_count = rows / 7;
    store
        .checkpoint(
            id,
            Checkpoint {
                state: Some(state),
                items,
                errors,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    tok
}

/// What the answer was when it was built whole: the same construction.
async fn built_whole(srv: &TestServer, id: &str) -> Value {
    let store = &srv.app.jobs.store;
    let state = store.job_state(id).await.unwrap().unwrap();
    let out = store.output(id).await.unwrap().unwrap();
    let (duplicates, books): (Vec<_>, Vec<_>) = out
        .items
        .into_iter()
        .partition(|i| i.get("duplicateOfRow").is_some());
    json!({"success": true, "data": {
        "jobId": id, "pipeline": state.pipeline, "status": state.status,
        "totalCount": state.total_count, "successCount": state.success_count,
        "failureCount": state.failure_count,
        "books": books, "duplicates": duplicates, "errors": out.errors,
    }, "meta": {"timestamp": 0}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20000_row_result_streams_the_json_it_was_built_as() {
    let srv = TestServer::start(|_| {}).await;
    let tok = stored_job(&srv, "big", 20_000).await;
    let resp = srv
        .http
        .get(format!("{}/api/jobs/big/results", srv.url))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(
        resp.headers().get("content-length").is_none(),
        "streamed, not built whole"
    );
    let text = resp.text().await.unwrap();
    let mut got: Value = serde_json::from_str(&text).unwrap();
    assert!(got["meta"]["timestamp"].as_i64().unwrap() > 0);
    got["meta"]["timestamp"] = json!(0);
    let want = built_whole(&srv, "big").await;
    assert_eq!(got["data"]["books"].as_array().unwrap().len(), 18_000);
    assert_eq!(got["data"]["duplicates"].as_array().unwrap().len(), 2_000);
    assert_eq!(got["data"]["errors"].as_array().unwrap().len(), 2_857);
    assert!(got == want, "the same JSON");
    // Byte for byte what serde_json wrote for the whole answer (sorted keys).
    let ts = text.rsplit("\"timestamp\":").next().unwrap();
    let whole = serde_json::to_string(&bookstrack_protocol::ApiSuccess::new(
        want["data"].clone(),
        0,
    ))
    .unwrap();
    let (got_text, want_text) = (text.trim_end_matches(ts), whole.trim_end_matches("0}}"));
    assert!(
        got_text == want_text,
        "same text: {} bytes, {} expected",
        got_text.len(),
        want_text.len()
    );
    // An empty job and an unknown one.
    let tok0 = stored_job(&srv, "empty", 0).await;
    let (s, v) = srv.get("/api/jobs/empty/results", Some(&tok0)).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["books"], json!([]));
    assert_eq!(v["data"]["errors"], json!([]));
    let (s, _) = srv.get("/api/jobs/nope/results", Some(&tok0)).await;
    assert_eq!(s, 404);
    srv.stop().await;
}

fn results_request(id: &str, tok: &str) -> axum::http::Request<Body> {
    axum::http::Request::get(format!("/api/jobs/{id}/results"))
        .header("authorization", format!("Bearer {tok}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_streams_past_the_limit_are_refused_with_429() {
    let srv = TestServer::start(|c| c.max_results_streams = 2).await;
    let tok = stored_job(&srv, "j", 600).await;
    let router = bookstrack_server::routes::router(srv.app.clone());
    // Answers whose bodies nobody reads yet: each holds its stream.
    let a = router
        .clone()
        .oneshot(results_request("j", &tok))
        .await
        .unwrap();
    let b = router
        .clone()
        .oneshot(results_request("j", &tok))
        .await
        .unwrap();
    assert_eq!(
        (a.status().as_u16(), b.status().as_u16()),
        (200, 200),
        "at the limit"
    );
    let c = router
        .clone()
        .oneshot(results_request("j", &tok))
        .await
        .unwrap();
    assert_eq!(c.status(), 429);
    assert_eq!(c.headers()["retry-after"], "1");
    let body = axum::body::to_bytes(c.into_body(), 1 << 20).await.unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "RATE_LIMITED");
    // A stream read to its end gives its place back; so does one dropped.
    let whole = axum::body::to_bytes(a.into_body(), 64 << 20).await.unwrap();
    let whole: Value = serde_json::from_slice(&whole).unwrap();
    assert_eq!(whole["data"]["books"].as_array().unwrap().len(), 540);
    let d = router
        .clone()
        .oneshot(results_request("j", &tok))
        .await
        .unwrap();
    assert_eq!(d.status(), 200);
    drop(b);
    let e = router
        .clone()
        .oneshot(results_request("j", &tok))
        .await
        .unwrap();
    assert_eq!(e.status(), 200);
    // A refused token takes no place.
    drop((d, e));
    let held: Vec<_> = futures_util::future::join_all(
        (0..2).map(|_| router.clone().oneshot(results_request("j", &tok))),
    )
    .await;
    let bad = router
        .clone()
        .oneshot(results_request("j", "wrong"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    drop(held);
    srv.stop().await;
}

/// A multipart body with one `file` part whose header block is `pad`
/// longer than it needs to be; returns (body, header block length).
fn padded_upload(pad: usize, csv: &str) -> (Vec<u8>, usize) {
    let header = format!(
        "Content-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nX-Pad: {}",
        "p".repeat(pad)
    );
    let body = format!("--XyZ\r\n{header}\r\n\r\n{csv}\r\n--XyZ--\r\n");
    (body.into_bytes(), header.len())
}

async fn post_multipart(srv: &TestServer, body: Vec<u8>) -> (u16, Value) {
    let r = srv
        .http
        .post(format!("{}/api/import/csv", srv.url))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_header_past_its_limit_is_refused_413() {
    let srv = TestServer::start(|c| c.max_part_header_bytes = 1024).await;
    let csv = goodreads_csv(3, &[]);
    let (_, base) = padded_upload(0, &csv);
    let (at, len) = padded_upload(1024 - base, &csv);
    assert_eq!(len, 1024);
    let (s, v) = post_multipart(&srv, at).await;
    assert_eq!(s, 202, "at the limit: {v}");
    let (over, _) = padded_upload(1025 - base, &csv);
    let (s, v) = post_multipart(&srv, over).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{v}"
    );
    assert!(v["error"]["message"].as_str().unwrap().contains("1024"));

    // A header that never ends is answered once it passes the limit, while
    // the client is still sending: the server did not wait for the rest.
    let mut sock = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let head = format!(
        "POST /api/import/csv HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Pad: ",
        200 * 1024 * 1024
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&vec![b'p'; 64 * 1024]).await.unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(20), sock.read(&mut answer))
        .await
        .expect("answered before the body ended")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    drop(sock);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let spools = std::fs::read_dir(srv.dir.path().join("uploads"))
        .unwrap()
        .count();
    assert_eq!(spools, 1, "only the accepted upload is spooled");
    srv.stop().await;
}

async fn upload_with_format(srv: &TestServer, format: String) -> (u16, Value) {
    let form = reqwest::multipart::Form::new().text("format", format).part(
        "file",
        reqwest::multipart::Part::bytes(goodreads_csv(2, &[]).into_bytes()).file_name("a.csv"),
    );
    let r = srv
        .http
        .post(format!("{}/api/import/csv", srv.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_field_past_its_limit_is_refused_413() {
    let srv = TestServer::start(|c| c.max_small_field_bytes = 9).await;
    let (s, v) = upload_with_format(&srv, "goodreads".into()).await;
    assert_eq!(s, 202, "9 bytes, at the limit: {v}");
    let (s, v) = upload_with_format(&srv, "goodreadsx".into()).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{v}"
    );
    assert!(v["error"]["message"].as_str().unwrap().contains("`format`"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_body_stops_is_ended_with_408() {
    let srv = TestServer::start(|c| c.body_idle_timeout = Duration::from_secs(1)).await;
    let mut sock = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let head = "POST /api/import/csv HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 100000\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nTitle,Author\r\n";
    sock.write_all(head.as_bytes()).await.unwrap();
    // A body still arriving, slower than the timeout never is, is not cut.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        sock.write_all(b"A,B\r\n").await.unwrap();
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), sock.read_to_end(&mut answer))
        .await
        .expect("ended")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
    // The JSON endpoints too.
    let mut sock = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    sock.write_all(b"POST /api/enrichment/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"books\"")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), sock.read_to_end(&mut answer))
        .await
        .expect("ended")
        .unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_stops_waiting_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = bookstrack_server::Config::new(dir.path());
    config.body_idle_timeout = Duration::from_secs(3600);
    config.shutdown_timeout = Duration::from_secs(1);
    let cancel = tokio_util::sync::CancellationToken::new();
    let server =
        bookstrack_server::Server::bind(config, "127.0.0.1:0".parse().unwrap(), cancel.clone())
            .await
            .unwrap();
    let addr = server.local_addr();
    let run = tokio::spawn(server.run());
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"POST /api/import/csv HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 100000\r\n\r\n--XyZ\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    cancel.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("run returned though a body was still open")
        .unwrap()
        .unwrap();
    assert_eq!(ended, bookstrack_server::Shutdown::DeadlinePassed);
    drop(sock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_output_passes_its_limit_fails() {
    let srv = TestServer::start(|c| {
        c.ready_timeout = Duration::ZERO;
        c.max_import_output_bytes = 20_000;
    })
    .await;
    let (job, tok) = srv.start_import(&goodreads_csv(10, &[])).await;
    assert_eq!(srv.wait_terminal(&job, &tok).await["status"], "complete");
    let (job, tok) = srv.start_import(&goodreads_csv(2_000, &[])).await;
    let state = srv.wait_terminal(&job, &tok).await;
    assert_eq!(state["status"], "failed", "{state}");
    let mut ws = srv.connect(&job, &tok, "").await;
    let (msgs, _) = read_to_close(&mut ws).await;
    let err = &msgs.last().unwrap()["payload"]["error"];
    assert_eq!(err["code"], "PROCESSING_FAILED");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("limit of 20000 bytes"),
        "{err}"
    );
    srv.stop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_is_0700_and_its_files_0600() {
    use std::os::unix::fs::PermissionsExt;
    let srv = TestServer::start(|c| c.ready_timeout = Duration::from_secs(600)).await;
    // A queued job keeps its spooled upload.
    let (job, _) = srv.start_import(&goodreads_csv(3, &[])).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = srv.dir.path();
    assert_eq!(mode(dir), 0o700);
    assert_eq!(mode(&dir.join("uploads")), 0o700);
    assert_eq!(mode(&dir.join("bookstrack.sqlite3")), 0o600);
    for f in ["bookstrack.sqlite3-wal", "bookstrack.sqlite3-shm"] {
        if dir.join(f).exists() {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
    }
    let spooled: Vec<_> = std::fs::read_dir(dir.join("uploads"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(&job))
        .collect();
    assert!(!spooled.is_empty(), "the upload is spooled");
    for p in spooled {
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    srv.stop().await;
}
