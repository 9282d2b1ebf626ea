//! The example worker in another language (`examples/publisher/worker.py`,
//! Python's standard library only), run against a server: what a team's
//! own worker does with the publisher API (docs/PROTOCOL.md §21).

use bookstrack_protocol::JobStarted;
use serde_json::Value;
use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};

pub const WORKER_PY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/publisher/worker.py"
);

/// A running worker and the lines it prints.
pub struct Worker {
    pub child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    /// Starts the worker on `items` items, sending every `lose_every`th
    /// request twice and pausing `pace_ms` per item; `None` when there is no `python3` and the run is not
    /// CI (under `CI=true` a missing interpreter fails the test).
    pub fn start(url: &str, items: u64, lose_every: u64, pace_ms: u64) -> Option<Worker> {
        let found = Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "python3 is missing (scripts/test installs it)"
            );
            eprintln!("SKIPPED: python3 is not installed");
            return None;
        }
        let mut child = Command::new("python3")
            .arg(WORKER_PY)
            .arg(url)
            .arg(items.to_string())
            .args(["--lose-every", &lose_every.to_string()])
            .args(["--pace-ms", &pace_ms.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the worker");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Some(Worker { child, lines })
    }

    /// [`Worker::start`] off the async runtime, up to the job it created:
    /// the worker and what a viewer of that job needs.
    pub async fn launch(
        url: &str,
        items: u64,
        lose_every: u64,
        pace_ms: u64,
    ) -> Option<(Worker, JobStarted)> {
        let url = url.to_string();
        tokio::task::spawn_blocking(move || {
            let mut worker = Worker::start(&url, items, lose_every, pace_ms)?;
            let first = worker.next_line();
            let field = |k: &str| first[k].as_str().expect("jobId and token").to_string();
            let job = JobStarted {
                job_id: field("jobId"),
                token: field("token"),
                message: "external job".into(),
                total_photos: None,
                expires_at: None,
                refreshable_from: None,
            };
            Some((worker, job))
        })
        .await
        .unwrap()
    }

    /// [`Worker::finish`] off the async runtime.
    pub async fn finished(self) -> Value {
        tokio::task::spawn_blocking(move || self.finish())
            .await
            .unwrap()
    }

    /// The next line the worker printed, as JSON (blocking).
    pub fn next_line(&mut self) -> Value {
        let line = self
            .lines
            .next()
            .expect("the worker printed a line")
            .unwrap();
        serde_json::from_str(&line).unwrap()
    }

    /// Waits for the worker to exit and asserts it succeeded.
    pub fn finish(mut self) -> Value {
        let last = self.next_line();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the worker failed: {status}");
        last
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
