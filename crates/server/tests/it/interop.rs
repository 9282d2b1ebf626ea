//! Independent clients: Python's `websockets` (permessage-deflate offered,
//! as it is by default) and `msgpack`, not this workspace's code, read the
//! very events the JSON client reads, on both sockets, live on the same
//! job at the same time and again replayed once it has ended
//! (`tests/interop/ws_client.py`).
//!
//! The Python is `BOOKSTRACK_TEST_PYTHON` (scripts/test makes `.venv-test`
//! and sets it), else a `python3` that can import both packages; with
//! neither the tests skip, or fail under `CI=true`.

use crate::common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

const CLIENT_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/ws_client.py");
const STEPS: u64 = 30;
const INTERVAL_MS: u64 = 20;
/// What the server answers to a deflate offer, as Python sees it negotiated.
const DEFLATE: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
/// How long one Python client may run before it is killed.
const PY_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/ws/progress`, started with `ready`.
    Job,
    /// `/ws/jobs`, one `subscribe`.
    Mux,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// websockets' default permessage-deflate offer.
    Deflate,
    /// `bookstrack.msgpack` (deflate left on, as by default).
    Msgpack,
    /// `compression=None`: bare JSON text frames.
    Plain,
}

impl Endpoint {
    fn arg(self) -> &'static str {
        match self {
            Endpoint::Job => "job",
            Endpoint::Mux => "mux",
        }
    }
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Deflate => "deflate",
            Mode::Msgpack => "msgpack",
            Mode::Plain => "plain",
        }
    }
}

/// The Python to run the client with; `None` (skip) when there is none
/// and the run is not CI.
fn python() -> Option<String> {
    let can_import = |py: &str| {
        Command::new(py)
            .args(["-c", "import websockets, msgpack"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if let Ok(py) = std::env::var("BOOKSTRACK_TEST_PYTHON") {
        assert!(
            can_import(&py),
            "BOOKSTRACK_TEST_PYTHON={py} cannot import websockets and msgpack"
        );
        return Some(py);
    }
    if can_import("python3") {
        return Some("python3".into());
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "no Python with websockets and msgpack: scripts/test makes .venv-test \
         and sets BOOKSTRACK_TEST_PYTHON"
    );
    eprintln!(
        "SKIPPED: no python3 can import websockets and msgpack \
         (scripts/test makes .venv-test and sets BOOKSTRACK_TEST_PYTHON)"
    );
    None
}

/// What a Python client printed: its `# key: value` lines and its events.
#[derive(Debug)]
struct PyOutput {
    notes: HashMap<String, String>,
    events: Vec<Value>,
}

impl PyOutput {
    fn note(&self, key: &str) -> &str {
        self.notes
            .get(key)
            .unwrap_or_else(|| panic!("the client printed no '# {key}': {self:?}"))
    }
}

/// A running `ws_client.py` and the lines it prints.
struct PyClient {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
    seen: Vec<String>,
    deadline: Instant,
}

impl PyClient {
    fn start(
        py: &str,
        srv: &TestServer,
        mode: Mode,
        endpoint: Endpoint,
        id: &str,
        token: &str,
    ) -> PyClient {
        let mut child = Command::new(py)
            .arg(CLIENT_PY)
            .arg(srv.url.replace("http://", "ws://"))
            .args([mode.arg(), endpoint.arg(), id, token])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{py} runs {CLIENT_PY}: {e}"));
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("piped");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        PyClient {
            child,
            lines,
            stderr: Some(stderr),
            seen: Vec::new(),
            deadline: Instant::now() + PY_TIMEOUT,
        }
    }

    /// Kills the client (by its pid, through the handle) and fails.
    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let status = self.child.wait();
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        panic!(
            "the Python client {why} ({status:?})\n--- stdout:\n{}\n--- stderr:\n{stderr}",
            self.seen.join("\n")
        );
    }

    /// The next line; `None` once stdout is closed.
    async fn line(&mut self) -> Option<String> {
        match tokio::time::timeout_at(self.deadline, self.lines.recv()).await {
            Ok(line) => {
                self.seen.extend(line.clone());
                line
            }
            Err(_) => self.fail(&format!("did not finish within {PY_TIMEOUT:?}")),
        }
    }

    /// Reads up to and including the line `want`.
    async fn until(&mut self, want: &str) {
        while let Some(line) = self.line().await {
            if line == want {
                return;
            }
        }
        self.fail(&format!("ended before printing {want:?}"));
    }

    /// Everything the client prints to its exit, which must be a success.
    async fn finish(mut self) -> PyOutput {
        while self.line().await.is_some() {}
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < self.deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(None) => self.fail("closed its stdout but did not exit"),
                Err(e) => self.fail(&format!("could not be waited for: {e}")),
            }
        };
        if !status.success() {
            self.fail(&format!("failed: {status}"));
        }
        let mut notes = HashMap::new();
        let mut events = Vec::new();
        for line in &self.seen {
            if let Some(note) = line.strip_prefix("# ") {
                let (k, v) = note.split_once(": ").unwrap_or((note, ""));
                notes.insert(k.to_string(), v.to_string());
            } else {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON line: {line:?}: {e}"));
                events.push(v);
            }
        }
        PyOutput { notes, events }
    }
}

impl Drop for PyClient {
    fn drop(&mut self) {
        // Still running only when the test failed before `finish`.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn synthetic_job(srv: &TestServer) -> (String, String) {
    synthetic_jobs(&srv.url, 1, STEPS, INTERVAL_MS)
        .await
        .remove(0)
}

fn is_terminal(m: &Value) -> bool {
    matches!(m["type"].as_str(), Some("job_complete" | "error")) && m["seq"].is_u64()
}

/// A `/ws/progress` viewer's job events, to the close (which must be 1000).
async fn job_events(mut ws: Ws) -> Vec<Value> {
    let (msgs, code) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(CLOSE_NORMAL), "{msgs:?}");
    msgs.into_iter().filter(|m| m["seq"].is_u64()).collect()
}

/// A `/ws/jobs` subscriber's events of job `id`, to the terminal one.
async fn mux_events(mut mux: MuxClient, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let m = mux.next().await.expect("socket open");
        if m.get("pipeline").is_none() {
            assert_ne!(m["type"], "error", "{m}");
            continue;
        }
        assert_eq!(m["jobId"], id, "{m}");
        if !m["seq"].is_u64() {
            continue;
        }
        let end = is_terminal(&m);
        out.push(m);
        if end {
            return out;
        }
    }
}

/// The JSON client's reading of the job from `lastSeq=0`, starting it if
/// it has not started.
async fn json_client(srv: &TestServer, endpoint: Endpoint, id: &str, token: &str) -> Vec<Value> {
    match endpoint {
        Endpoint::Job => job_events(connect(&srv.url, id, token, 0, true).await).await,
        Endpoint::Mux => {
            let mut mux = MuxClient::connect(&srv.url, None).await;
            mux.subscribe(id, token, 0).await;
            mux_events(mux, id).await
        }
    }
}

/// What Python negotiated and read, against the JSON client's events.
fn check(py: &PyOutput, mode: Mode, endpoint: Endpoint, json: &[Value], when: &str) {
    let what = format!("{when}, {mode:?} on {endpoint:?}");
    let (extensions, subprotocol) = match mode {
        Mode::Deflate => (DEFLATE, "none"),
        Mode::Msgpack => (DEFLATE, "bookstrack.msgpack"),
        Mode::Plain => ("none", "none"),
    };
    assert_eq!(py.note("extensions"), extensions, "{what}");
    assert_eq!(py.note("subprotocol"), subprotocol, "{what}");
    let compressed = if mode == Mode::Plain { 0 } else { json.len() };
    assert_eq!(
        py.note("compressed"),
        format!("{compressed} of {}", json.len()),
        "{what}: every event compressed when deflate is on, none when off"
    );
    if endpoint == Endpoint::Job {
        assert_eq!(py.note("close"), "1000", "{what}");
    }
    for (i, (p, j)) in py.events.iter().zip(json).enumerate() {
        assert_eq!(p, j, "{what}: event {i} differs from the JSON client's");
    }
    assert_eq!(py.events.len(), json.len(), "{what}: how many events");
}

async fn python_reads_the_json_events(endpoint: Endpoint, mode: Mode) {
    let Some(py) = python() else { return };
    let began = std::time::Instant::now();
    let srv = TestServer::start(|c| c.synthetic_jobs = true).await;
    let (id, token) = synthetic_job(&srv).await;

    // Live: both clients follow the job as it runs.
    let (py_live, json_live) = match endpoint {
        Endpoint::Job => {
            // The JSON viewer waits without `ready`: Python's starts the job.
            let ws = connect(&srv.url, &id, &token, 0, false).await;
            let client = PyClient::start(&py, &srv, mode, endpoint, &id, &token);
            tokio::join!(client.finish(), job_events(ws))
        }
        Endpoint::Mux => {
            // Python's subscription starts the job; the JSON one follows.
            let mut client = PyClient::start(&py, &srv, mode, endpoint, &id, &token);
            client.until("# started").await;
            let mut mux = MuxClient::connect(&srv.url, None).await;
            mux.subscribe(&id, &token, 0).await;
            tokio::join!(client.finish(), mux_events(mux, &id))
        }
    };
    assert_eq!(
        assert_contiguous(&json_live, 1),
        STEPS + 2,
        "started, progress, complete"
    );
    assert_eq!(json_live.last().unwrap()["type"], "job_complete");
    check(&py_live, mode, endpoint, &json_live, "live");

    // Replayed: the ended job from lastSeq=0, by each client again.
    let json_replay = json_client(&srv, endpoint, &id, &token).await;
    assert_eq!(json_replay, json_live, "the JSON replay");
    let py_replay = PyClient::start(&py, &srv, mode, endpoint, &id, &token)
        .finish()
        .await;
    check(&py_replay, mode, endpoint, &json_live, "replayed");
    eprintln!(
        "interop {mode:?} on {endpoint:?}: {} events, extensions {:?}, subprotocol {:?}, {:?}",
        json_live.len(),
        py_live.note("response-extensions"),
        py_live.note("subprotocol"),
        began.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_deflate_on_the_job_socket_reads_the_json_events() {
    python_reads_the_json_events(Endpoint::Job, Mode::Deflate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_msgpack_on_the_job_socket_reads_the_json_events() {
    python_reads_the_json_events(Endpoint::Job, Mode::Msgpack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_plain_on_the_job_socket_reads_the_json_events() {
    python_reads_the_json_events(Endpoint::Job, Mode::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_deflate_on_the_mux_reads_the_json_events() {
    python_reads_the_json_events(Endpoint::Mux, Mode::Deflate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_msgpack_on_the_mux_reads_the_json_events() {
    python_reads_the_json_events(Endpoint::Mux, Mode::Msgpack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_plain_on_the_mux_reads_the_json_events() {
    python_reads_the_json_events(Endpoint::Mux, Mode::Plain).await;
}
