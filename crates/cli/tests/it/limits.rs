//! The real binary under issue 17's limits: SIGTERM is not held up by an
//! upload that stopped sending (the body times out, then the deadline), and
//! a key read from a file is used without appearing on the command line.

use crate::support::*;
use serde_json::json;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// An upload whose body never comes: headers and the first boundary only.
fn stalled_upload(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"POST /api/import/csv HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 100000\r\n\r\n--XyZ\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s
}

fn sigterm(srv: &ServerProc) {
    let pid = srv.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
}

/// Waits at most `within` for the process to exit.
fn exit_status(srv: &mut ServerProc, within: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + within;
    loop {
        if let Some(s) = srv.child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < until, "still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_finishes_once_a_stalled_upload_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = ServerProc::start(
        BOOKSTRACK,
        dir.path(),
        0,
        &["--body-idle-timeout-secs", "1"],
    );
    let _upload = stalled_upload(srv.port);
    sigterm(&srv);
    let status = exit_status(&mut srv, Duration::from_secs(30));
    assert!(status.success(), "a clean exit: {status}");
}

#[test]
fn sigterm_exits_at_the_shutdown_deadline_whatever_is_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = ServerProc::start(
        BOOKSTRACK,
        dir.path(),
        0,
        &[
            "--body-idle-timeout-secs",
            "3600",
            "--shutdown-timeout-secs",
            "1",
        ],
    );
    let _upload = stalled_upload(srv.port);
    sigterm(&srv);
    let status = exit_status(&mut srv, Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "exit 1 at the deadline: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_is_read_and_the_key_stays_off_the_command_line() {
    use wiremock::matchers::{header, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let gb = MockServer::start().await;
    let isbn = goodreads::isbn13(41);
    Mock::given(path("/volumes"))
        .and(header("x-goog-api-key", "from-a-file"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"totalItems": 1, "items": [
            {"volumeInfo": {"title": "Dune", "authors": ["Frank Herbert"],
             "industryIdentifiers": [{"type": "ISBN_13", "identifier": isbn}]}}]})),
        )
        .mount(&gb)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("gb.key");
    std::fs::write(&key, "from-a-file\n").unwrap();
    let args = [
        "--enrich-providers",
        "googlebooks",
        "--google-books-url",
        &gb.uri(),
        "--google-books-api-key-file",
        key.to_str().unwrap(),
        "--ready-timeout-secs",
        "0",
    ];
    let srv = ServerProc::start(BOOKSTRACK, &dir.path().join("data"), 0, &args);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", srv.child.id())).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&cmdline).contains("from-a-file"));
    let http = http();
    let (s, v) = post_json(
        &http,
        &srv.url,
        "/api/enrichment/start",
        &json!({"books": [{"title": "Dune", "isbn": isbn}]}),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let (job, token) = (
        v["data"]["jobId"].as_str().unwrap(),
        v["data"]["token"].as_str().unwrap(),
    );
    let until = Instant::now() + Duration::from_secs(30);
    let state = loop {
        let (_, st) = get(&srv.url, &format!("/api/job-state/{job}"), token).await;
        if st["status"] == "complete" || st["status"] == "failed" {
            break st;
        }
        assert!(Instant::now() < until, "{st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        state["successCount"], 1,
        "the key from the file was sent: {state}"
    );
}
