//! The server library on port 0 in the test's own runtime, reached over
//! real HTTP and WebSocket connections.

use crate::api::post_json;
use crate::ws::Ws;
use bookstrack_server::{App, Config, Server};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct TestServer {
    pub url: String,
    pub addr: SocketAddr,
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
        crate::install_crypto();
        let cancel = CancellationToken::new();
        let server = Server::bind(config, "127.0.0.1:0".parse().unwrap(), cancel.clone())
            .await
            .unwrap();
        let addr = server.local_addr();
        let url = format!("http://{addr}");
        let app = server.app.clone();
        let task = tokio::spawn(async move {
            server.run().await.unwrap();
        });
        TestServer {
            url,
            addr,
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

    /// [`TestServer::post_json`] with extra headers (an API key, presented
    /// job tokens): the status, the JSON answer and the `Retry-After`.
    pub async fn post_json_with(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (u16, Value, Option<String>) {
        let mut req = self.http.post(format!("{}{path}", self.url)).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        (status, resp.json().await.unwrap_or(Value::Null), retry)
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let resp = self.http.get(format!("{}/metrics", self.url)).send().await;
        resp.unwrap().text().await.unwrap()
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
