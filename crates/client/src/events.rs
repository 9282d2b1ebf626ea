//! The event stream of one job, resumed by `lastSeq` across reconnects so
//! that the caller sees each event once, in order.

use crate::{Client, ClientError};
use bookstrack_protocol::{ClientMessage, Envelope, Payload};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Backoff between reconnect attempts: `base * 2^n`, capped, at most `max_attempts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            max_attempts: 5,
        }
    }
}

impl ReconnectPolicy {
    pub fn delay(&self, attempt: u32) -> Duration {
        self.base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap)
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct EventStream {
    client: Client,
    job_id: String,
    token: String,
    policy: ReconnectPolicy,
    socket: Option<Socket>,
    last_seq: u64,
    done: bool,
}

impl EventStream {
    pub(crate) fn new(
        client: Client,
        job_id: String,
        token: String,
        policy: ReconnectPolicy,
    ) -> Self {
        EventStream {
            client,
            job_id,
            token,
            policy,
            socket: None,
            last_seq: 0,
            done: false,
        }
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    async fn connect(&mut self) -> Result<(), ClientError> {
        let url = self.client.ws_url(&self.job_id, &self.token, self.last_seq);
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| ClientError::WebSocket(e.to_string()))?;
        let ready = serde_json::to_string(&ClientMessage::Ready { timestamp: None })
            .expect("ready serialises");
        ws.send(Message::text(ready))
            .await
            .map_err(|e| ClientError::WebSocket(e.to_string()))?;
        self.socket = Some(ws);
        Ok(())
    }

    async fn reconnect(&mut self, why: String) -> Result<(), ClientError> {
        self.socket = None;
        let mut last = why;
        for attempt in 0..self.policy.max_attempts {
            tokio::time::sleep(self.policy.delay(attempt)).await;
            match self.connect().await {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(ClientError::GaveUp {
            attempts: self.policy.max_attempts,
            last,
        })
    }

    /// The next job event (`job_started`, `job_progress`, `job_state`,
    /// `job_complete`, `error`); `None` after the terminal one.
    pub async fn next(&mut self) -> Option<Result<Envelope, ClientError>> {
        if self.done {
            return None;
        }
        loop {
            if self.socket.is_none() {
                let r = if self.last_seq == 0 {
                    self.connect().await
                } else {
                    self.reconnect("connection lost".into()).await
                };
                if let Err(e) = r {
                    self.done = true;
                    return Some(Err(e));
                }
            }
            let ws = self.socket.as_mut().expect("connected");
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let env: Envelope = match serde_json::from_str(t.as_str()) {
                        Ok(e) => e,
                        Err(e) => return Some(Err(ClientError::Protocol(e.to_string()))),
                    };
                    match env.payload() {
                        Payload::Pong {} | Payload::Ping {} | Payload::ReadyAck {} => continue,
                        Payload::JobState { state } => {
                            self.last_seq = self.last_seq.max(state.last_seq);
                            return Some(Ok(env));
                        }
                        p => {
                            let seq = env.seq().unwrap_or(0);
                            if seq <= self.last_seq {
                                continue;
                            }
                            self.last_seq = seq;
                            if p.is_terminal() {
                                self.done = true;
                                self.socket = None;
                            }
                            return Some(Ok(env));
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let r = self.reconnect("connection lost".into()).await;
                    if let Err(e) = r {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }
}
