//! A bare client of the multiplexed socket, `/ws/jobs`: requests in,
//! messages out as JSON values (MessagePack ones decoded to the same).

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::ws::Ws;

pub struct MuxClient {
    pub ws: Ws,
    /// The server answered with `bookstrack.msgpack`.
    pub msgpack: bool,
    /// Messages read past while looking for a notice, for `next`.
    skipped: std::collections::VecDeque<Value>,
}

impl MuxClient {
    /// Connects to `/ws/jobs` on `url` (`http://…`), asking for the
    /// subprotocol given, if any.
    pub async fn connect(url: &str, subprotocol: Option<&str>) -> MuxClient {
        let mut req = format!("{}/ws/jobs", url.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        if let Some(p) = subprotocol {
            req.headers_mut()
                .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
        }
        let (ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
        let msgpack = resp
            .headers()
            .get("Sec-WebSocket-Protocol")
            .is_some_and(|v| v == "bookstrack.msgpack");
        MuxClient {
            ws,
            msgpack,
            skipped: Default::default(),
        }
    }

    /// A `/ws/jobs` socket whose client reads slowly by construction
    /// ([`crate::connect_unread`]): for the unread-replies tests.
    pub async fn connect_unread(url: &str) -> MuxClient {
        let ws =
            crate::connect_unread(&format!("{}/ws/jobs", url.replace("http://", "ws://"))).await;
        MuxClient {
            ws,
            msgpack: false,
            skipped: Default::default(),
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    pub async fn subscribe(&mut self, job: &str, token: &str, last_seq: u64) {
        self.send(json!({"type": "subscribe", "jobId": job, "token": token, "lastSeq": last_seq}))
            .await;
    }

    /// The next message; `Err` with the close code once closed.
    pub async fn next(&mut self) -> Result<Value, Option<u16>> {
        if let Some(v) = self.skipped.pop_front() {
            return Ok(v);
        }
        self.read().await
    }

    async fn read(&mut self) -> Result<Value, Option<u16>> {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(60), self.ws.next())
                .await
                .expect("a message within 60 s");
            match m {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
                Some(Ok(Message::Binary(b))) => return Ok(rmp_serde::from_slice(&b).unwrap()),
                Some(Ok(Message::Close(f))) => return Err(f.map(|f| u16::from(f.code))),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return Err(None),
            }
        }
    }

    /// The next notice (a message without `pipeline`) of type `kind`;
    /// what comes before it is kept for `next`.
    pub async fn notice(&mut self, kind: &str) -> Value {
        if let Some(i) = self
            .skipped
            .iter()
            .position(|m| m.get("pipeline").is_none() && m["type"] == kind)
        {
            return self.skipped.remove(i).expect("found");
        }
        loop {
            let m = self.read().await.expect("socket open");
            if m.get("pipeline").is_none() && m["type"] == kind {
                return m;
            }
            self.skipped.push_back(m);
        }
    }
}
