//! No token ever appears in a log line, at any level, from our code or the
//! libraries under it.

use bookstrack_testkit::goodreads::goodreads_csv;
use bookstrack_testkit::*;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_reach_the_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber_init(move || writer.clone());

    let srv = TestServer::start(|c| {
        c.token_ttl = std::time::Duration::from_secs(600);
        c.token_refresh_window = std::time::Duration::from_secs(600);
    })
    .await;
    let (job, token) = srv.start_import(&goodreads_csv(20, &[3])).await;
    let mut ws = srv.connect(&job, &token, "&lastSeq=0").await;
    send_ready(&mut ws).await;
    let _ = read_to_close(&mut ws).await;
    let _ = srv
        .get(&format!("/api/job-state/{job}"), Some(&token))
        .await;
    let _ = srv
        .get(&format!("/api/jobs/{job}/results"), Some(&token))
        .await;
    let _ = srv.refused(&format!("jobId={job}&token={token}x")).await;
    let (_, fresh) = srv
        .post_json(
            "/api/token/refresh",
            &serde_json::json!({"jobId": job, "oldToken": token}),
        )
        .await;
    let fresh = fresh["token"].as_str().unwrap().to_string();
    let _ = srv
        .get(&format!("/api/job-state/{job}"), Some(&fresh))
        .await;
    srv.stop().await;

    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        logs.lines().count() > 10,
        "the capture saw the requests:\n{logs}"
    );
    assert!(logs.contains("/ws/progress"), "requests are logged by path");
    for t in [&token, &fresh] {
        assert!(!logs.contains(t.as_str()), "a token leaked into the logs");
        assert!(
            !logs.contains(&t[..16]),
            "part of a token leaked into the logs"
        );
    }
}

fn tracing_subscriber_init<W>(make: impl Fn() -> W + Send + Sync + 'static)
where
    W: Write + 'static,
{
    // Everything at TRACE, except the test client's own handshake trace,
    // which prints the request line; the CLI silences it the same way.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,tungstenite::handshake::client=off",
        ))
        .with_writer(make)
        .with_ansi(false)
        .init();
}
