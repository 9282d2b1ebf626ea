//! Helpers for tests that run a real server on port 0 and talk to it over
//! real HTTP and WebSocket connections.
#![allow(dead_code)]

pub mod shelf;

use bookstrack_server::{App, Config, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct TestServer {
    pub url: String,
    pub app: Arc<App>,
    pub cancel: CancellationToken,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        tweak(&mut config);
        Self::start_in(dir, config).await
    }

    pub async fn start_in(dir: tempfile::TempDir, config: Config) -> TestServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cancel = CancellationToken::new();
        let server = Server::bind(config, "127.0.0.1:0".parse().unwrap(), cancel.clone())
            .await
            .unwrap();
        let url = format!("http://{}", server.local_addr());
        let app = server.app.clone();
        let task = tokio::spawn(async move {
            server.run().await.unwrap();
        });
        TestServer {
            url,
            app,
            cancel,
            dir,
            http: reqwest::Client::new(),
            task,
        }
    }

    /// Cancels and waits for a clean shutdown; returns the data dir.
    pub async fn stop(self) -> tempfile::TempDir {
        self.cancel.cancel();
        self.task.await.unwrap();
        self.dir
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!(
            "{}/ws/progress?{query}",
            self.url.replace("http://", "ws://")
        )
    }

    pub async fn upload(&self, bytes: Vec<u8>) -> (u16, Value) {
        let part = reqwest::multipart::Part::bytes(bytes).file_name("goodreads_library_export.csv");
        let form = reqwest::multipart::Form::new().part("file", part);
        let resp = self
            .http
            .post(format!("{}/api/import/csv", self.url))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Uploads and returns (jobId, token), asserting a 202.
    pub async fn start_import(&self, csv: &str) -> (String, String) {
        let (status, body) = self.upload(csv.as_bytes().to_vec()).await;
        assert_eq!(status, 202, "{body}");
        (
            body["data"]["jobId"].as_str().unwrap().to_string(),
            body["data"]["token"].as_str().unwrap().to_string(),
        )
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        post_json(&self.http, &self.url, path, body).await
    }

    pub async fn connect(&self, job: &str, token: &str, extra: &str) -> Ws {
        let (ws, _) = tokio_tungstenite::connect_async(
            self.ws_url(&format!("jobId={job}&token={token}{extra}")),
        )
        .await
        .expect("websocket connects");
        ws
    }

    /// The HTTP status of a refused upgrade.
    pub async fn refused(&self, query: &str) -> (u16, Value) {
        match tokio_tungstenite::connect_async(self.ws_url(query)).await {
            Ok(_) => panic!("upgrade unexpectedly accepted"),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let body = resp
                    .body()
                    .as_ref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                (resp.status().as_u16(), body)
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    /// Polls job-state until it is terminal.
    pub async fn wait_terminal(&self, job: &str, token: &str) -> Value {
        for _ in 0..600 {
            let (_, s) = self
                .get(&format!("/api/job-state/{job}"), Some(token))
                .await;
            if matches!(s["status"].as_str(), Some("complete" | "failed")) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {job} did not finish");
    }
}

/// POSTs `body` as JSON to `base` + `path`: the status and the JSON answer
/// (`Null` when the answer is not JSON). Free-standing for spawned tasks.
pub async fn post_json(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let r = http
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

pub async fn send_ready(ws: &mut Ws) {
    ws.send(Message::text(r#"{"type":"ready"}"#)).await.unwrap();
}

/// Next text message as JSON; `None` on close (with its code).
pub async fn next_json(ws: &mut Ws) -> Result<Value, Option<u16>> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a message within 30 s");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return Err(None),
        }
    }
}

/// The next `n` job events (messages with a `seq`), skipping control messages.
pub async fn next_events(ws: &mut Ws, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let m = next_json(ws).await.expect("socket open");
        if m["seq"].is_u64() {
            out.push(m);
        }
    }
    out
}

/// Every message until the server closes, and the close code.
pub async fn read_to_close(ws: &mut Ws) -> (Vec<Value>, Option<u16>) {
    let mut out = Vec::new();
    loop {
        match next_json(ws).await {
            Ok(v) => out.push(v),
            Err(code) => return (out, code),
        }
    }
}

/// The seqs of job events, asserting they run from `from` with no gap or repeat.
pub fn assert_contiguous(events: &[Value], from: u64) -> u64 {
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    let expected: Vec<u64> = (from..from + seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "seqs must be contiguous from {from}");
    seqs.last().copied().unwrap_or(from - 1)
}

pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub fn close_code(c: CloseCode) -> u16 {
    u16::from(c)
}

pub const GOODREADS_HEADER: &str = "Book Id,Title,Author,Author l-f,Additional Authors,ISBN,ISBN13,My Rating,Average Rating,Publisher,Binding,Number of Pages,Year Published,Original Publication Year,Date Read,Date Added,Bookshelves,Bookshelves with positions,Exclusive Shelf,My Review,Spoiler,Private Notes,Read Count,Owned Copies";

/// A valid ISBN-13 numbered `n`.
pub fn isbn13(n: u64) -> String {
    bookstrack_server::pipelines::csv_import::isbn::with_check_digit(&format!(
        "978{:09}",
        n % 1_000_000_000
    ))
}

/// A Goodreads export (current header) of `rows` books; every row listed in
/// `bad` has an empty title and so cannot be imported.
pub fn goodreads_csv(rows: usize, bad: &[usize]) -> String {
    let mut s = String::from(GOODREADS_HEADER);
    s.push('\n');
    for i in 0..rows {
        let title = if bad.contains(&i) {
            String::new()
        } else {
            format!("\"Book {i}: A Novel, Part {}\"", i % 7)
        };
        s.push_str(&format!(
            "{id},{title},Author {a},\"{a}, Author\",,\"=\"\"\"\"\",\"=\"\"{isbn}\"\"\",{r},3.9,Press,Paperback,{p},2020,2019,2024/01/02,2023/05/06,,,read,\"Good<br/>read\",,,1,0\n",
            id = 1000 + i,
            a = i % 13,
            isbn = isbn13(i as u64 + 12345),
            r = i % 6,
            p = 100 + i % 300,
        ));
    }
    s
}
