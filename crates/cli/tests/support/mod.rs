//! Runs the real `bookstrack` binary as a server process.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub struct ServerProc {
    pub child: Child,
    pub url: String,
    pub port: u16,
}

impl ServerProc {
    /// Starts `bookstrack serve` and waits for its `listening on` line.
    pub fn start(data_dir: &Path, port: u16, extra: &[&str]) -> ServerProc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bookstrack"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bookstrack starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        ServerProc { child, url, port }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub async fn upload(url: &str, csv: Vec<u8>) -> (String, String) {
    let part = reqwest::multipart::Part::bytes(csv).file_name("goodreads_library_export.csv");
    let resp = http()
        .post(format!("{url}/api/import/csv"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let v: Value = resp.json().await.unwrap();
    (
        v["data"]["jobId"].as_str().unwrap().into(),
        v["data"]["token"].as_str().unwrap().into(),
    )
}

pub async fn get(url: &str, path: &str, token: &str) -> (u16, Value) {
    let r = http()
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

pub async fn connect(url: &str, job: &str, token: &str, last_seq: u64, ready: bool) -> Ws {
    let ws_url = format!(
        "{}/ws/progress?jobId={job}&token={token}&lastSeq={last_seq}",
        url.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    if ready {
        ws.send(Message::text(r#"{"type":"ready"}"#)).await.unwrap();
    }
    ws
}

/// Next job event (a message with a seq, or job_state); `None` at close.
pub async fn next_event(ws: &mut Ws) -> Option<Value> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("an event within 60 s")?;
        match m {
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["seq"].is_u64() || v["type"] == "job_state" {
                    return Some(v);
                }
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

pub const GOODREADS_HEADER: &str = "Book Id,Title,Author,Author l-f,Additional Authors,ISBN,ISBN13,My Rating,Average Rating,Publisher,Binding,Number of Pages,Year Published,Original Publication Year,Date Read,Date Added,Bookshelves,Bookshelves with positions,Exclusive Shelf,My Review,Spoiler,Private Notes,Read Count,Owned Copies";

/// A Goodreads export of `rows` rows; every 97th has no title (a row error).
pub fn goodreads_csv(rows: usize) -> Vec<u8> {
    let mut s = String::from(GOODREADS_HEADER);
    s.push('\n');
    for i in 0..rows {
        let title = if i % 97 == 96 {
            String::new()
        } else {
            format!("\"Title {i}, Vol. {}\"", i % 9)
        };
        s.push_str(&format!(
            "{},{title},Writer {},,,\"=\"\"\"\"\",\"=\"\"\"\"\",4,4.1,Press,Hardcover,300,2001,2000,2022/03/04,2021/01/01,,,read,,,,1,0\n",
            5000 + i,
            i % 31
        ));
    }
    s.into_bytes()
}

pub fn expected_failures(rows: usize) -> usize {
    (0..rows).filter(|i| i % 97 == 96).count()
}
