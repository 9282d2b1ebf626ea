//! One job's events as a stream that outlives its connections: each event
//! is delivered once and in order (resumed by `lastSeq` after any drop),
//! the token is refreshed inside its refresh window, the terminal event is
//! acknowledged, and a [`StreamControl`] pauses, resumes, reconnects or
//! cancels it at once, including a backoff in progress.

mod pause;
mod refresh;

use crate::control::{State, StreamControl};
use crate::wire::{decode, open, Encoding, Socket};
use crate::{
    Client, ClientError, MemoryTokenStore, ReconnectPolicy, ResyncPolicy, StoredToken, TokenStore,
};
use bookstrack_protocol::{
    ApiFailure, ClientMessage, Envelope, ErrorCode, MessageFactory, Payload,
};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct StreamOptions {
    pub reconnect: ReconnectPolicy,
    pub resync: ResyncPolicy,
    pub tokens: Arc<dyn TokenStore>,
    /// JSON (the default) or MessagePack frames.
    pub encoding: Encoding,
    /// Offer permessage-deflate; the server's events then arrive compressed.
    pub compress: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            reconnect: ReconnectPolicy::default(),
            resync: ResyncPolicy::default(),
            tokens: Arc::new(MemoryTokenStore::default()),
            encoding: Encoding::Json,
            compress: false,
        }
    }
}

/// Stops a [`JobStream`] from another task.
#[derive(Clone)]
pub struct CancelHandle(CancellationToken);

impl CancelHandle {
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn until(at_ms: i64) -> Duration {
    Duration::from_millis((at_ms - now_ms()).max(0) as u64)
}

/// Why one connection attempt failed.
enum Attempt {
    Retry(String),
    Fatal(ClientError),
}

/// What `JobStream::next` returns.
type Next = Option<Result<Envelope, ClientError>>;

enum Step {
    Cancelled,
    Refresh,
    /// Paused, resumed or told to reconnect.
    Control,
    Frame(Option<Result<Message, WsError>>),
}

pub struct JobStream {
    client: Client,
    job_id: String,
    token: StoredToken,
    opts: StreamOptions,
    socket: Option<Socket>,
    last_seq: u64,
    connected_once: bool,
    done: bool,
    cancel: CancellationToken,
    control: StreamControl,
    state: watch::Receiver<State>,
    /// The `reconnect_now` count acted on so far.
    reconnects_seen: u64,
    /// Connect without backoff (after a pause or a `reconnect_now`).
    connect_now: bool,
    /// The socket a terminal event arrived on, until it is acknowledged.
    closing: Option<Socket>,
    pending: Option<Envelope>,
    /// Successful reconnects so far.
    pub reconnects: u32,
    /// Token refreshes so far.
    pub refreshes: u32,
}

impl JobStream {
    pub(crate) fn new(
        client: Client,
        job_id: String,
        token: StoredToken,
        opts: StreamOptions,
    ) -> Self {
        if let Err(e) = opts.tokens.put(&job_id, &token) {
            tracing::warn!(error = %e, "could not store the job's token");
        }
        let (control, state) = StreamControl::new();
        JobStream {
            client,
            job_id,
            token,
            opts,
            socket: None,
            last_seq: 0,
            connected_once: false,
            done: false,
            cancel: control.token().clone(),
            control,
            state,
            reconnects_seen: 0,
            connect_now: false,
            closing: None,
            pending: None,
            reconnects: 0,
            refreshes: 0,
        }
    }

    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel.clone())
    }

    /// Pauses, resumes, reconnects or cancels this stream from anywhere.
    pub fn control(&self) -> StreamControl {
        self.control.clone()
    }

    /// Closes the socket with 1000 and keeps the position (`resume` goes on).
    pub fn pause(&self) {
        self.control.pause();
    }

    pub fn resume(&self) {
        self.control.resume();
    }

    /// Reconnects at once, skipping what is left of a backoff.
    pub fn reconnect_now(&self) {
        self.control.reconnect_now();
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The token in use now (it changes when refreshed).
    pub fn token(&self) -> &str {
        &self.token.token
    }

    async fn try_connect(&mut self) -> Result<(), Attempt> {
        let url = self
            .client
            .ws_url(&self.job_id, &self.token.token, self.last_seq);
        match open(&url, self.opts.encoding, self.opts.compress).await {
            Ok(mut ws) => {
                let ready = serde_json::to_string(&ClientMessage::Ready { timestamp: None })
                    .expect("serialises");
                ws.send(Message::text(ready))
                    .await
                    .map_err(|e| Attempt::Retry(e.to_string()))?;
                if self.connected_once {
                    self.reconnects += 1;
                }
                self.connected_once = true;
                self.socket = Some(ws);
                Ok(())
            }
            Err(WsError::Http(resp)) => {
                let status = resp.status().as_u16();
                let code = resp
                    .body()
                    .as_ref()
                    .and_then(|b| serde_json::from_slice::<ApiFailure>(b).ok())
                    .map(|f| f.error.code);
                match (status, code) {
                    (401, Some(ErrorCode::TokenExpired)) => match self.refresh().await {
                        Ok(()) => Err(Attempt::Retry("token refreshed".into())),
                        Err(_) => Err(Attempt::Fatal(ClientError::Unauthorized(
                            "the token expired".into(),
                        ))),
                    },
                    (401, _) => Err(Attempt::Fatal(ClientError::Unauthorized(
                        "the token was refused".into(),
                    ))),
                    (404, _) => Err(Attempt::Fatal(ClientError::JobGone)),
                    (s, _) => Err(Attempt::Retry(format!("upgrade refused with HTTP {s}"))),
                }
            }
            Err(e) => Err(Attempt::Retry(e.to_string())),
        }
    }

    /// Connects: the first time at once, then with backoff; after the last
    /// attempt, resyncs over HTTP.
    async fn establish(&mut self) -> Result<(), ClientError> {
        let mut last = String::from("connection lost");
        if !self.connected_once || std::mem::take(&mut self.connect_now) {
            match self.try_connect().await {
                Ok(()) => return Ok(()),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(m)) => last = m,
            }
        }
        let policy = self.opts.reconnect;
        for n in 0..policy.max_attempts {
            let mut state = self.state.clone();
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(ClientError::Cancelled),
                _ = tokio::time::sleep(policy.delay(n)) => {}
                // A pause or a `reconnect_now`: `next` acts on it.
                _ = state.changed() => return Err(ClientError::Interrupted),
            }
            if self.refresh_due().is_some_and(|d| d <= now_ms()) {
                let _ = self.refresh().await;
            }
            match self.try_connect().await {
                Ok(()) => return Ok(()),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(m)) => last = m,
            }
        }
        let resync = self.opts.resync.clone();
        let state = tokio::select! {
            _ = self.cancel.cancelled() => return Err(ClientError::Cancelled),
            s = self.client.job_state_with_retry(&self.job_id, &self.token.token, &resync) => s,
        };
        let state = match state {
            Ok(s) => s,
            Err(ClientError::JobGone) => return Err(ClientError::JobGone),
            Err(e) => {
                return Err(ClientError::GaveUp {
                    attempts: policy.max_attempts,
                    last: format!("{last}; resync failed: {e}"),
                })
            }
        };
        let terminal = state.status.is_terminal();
        let factory = MessageFactory::new(self.job_id.clone(), state.pipeline);
        self.pending = Some(factory.job_state(now_ms(), state));
        if terminal {
            // The job ended while we could not connect: its state is the news.
            self.finish();
            return Ok(());
        }
        Err(ClientError::GaveUp {
            attempts: policy.max_attempts,
            last,
        })
    }

    fn finish(&mut self) {
        self.done = true;
        // Kept for the terminal event's ack, then dropped.
        self.closing = self.socket.take();
        if let Err(e) = self.opts.tokens.delete(&self.job_id) {
            tracing::warn!(error = %e, "could not delete the job's token");
        }
    }

    /// The next job event (`job_started`, `job_progress`, `job_state`,
    /// `job_complete`, `error`), each once and in order; `None` after the
    /// terminal one. An `Err` ends the stream.
    pub async fn next(&mut self) -> Option<Result<Envelope, ClientError>> {
        loop {
            if let Some(end) = self.held_or_ended() {
                return end;
            }
            if self.state.borrow().paused {
                self.close_socket("paused").await;
                self.wait_resumed().await;
                continue;
            }
            if self.socket.is_none() {
                if let Some(end) = self.reconnect().await {
                    return end;
                }
                continue;
            }
            let step = self.wait().await;
            if let Some(next) = self.on_step(step).await {
                return next;
            }
        }
    }

    /// What `next` returns without reading: an event held back, the end,
    /// or the cancellation; `None` to go on reading.
    fn held_or_ended(&mut self) -> Option<Next> {
        if let Some(ev) = self.pending.take() {
            return Some(Some(Ok(ev)));
        }
        if self.done {
            return Some(None);
        }
        if self.cancel.is_cancelled() {
            self.done = true;
            self.socket = None;
            return Some(Some(Err(ClientError::Cancelled)));
        }
        None
    }

    /// Connects (again); `Some` with what `next` returns once it gives up.
    async fn reconnect(&mut self) -> Option<Next> {
        let e = match self.establish().await {
            Ok(()) => return None,
            Err(ClientError::Interrupted) => {
                self.on_control().await;
                return None;
            }
            Err(e) => e,
        };
        if matches!(e, ClientError::JobGone) {
            self.finish();
        }
        self.done = true;
        if let Some(ev) = self.pending.take() {
            // Deliver the resynced state; the error is lost to
            // the caller only if it ignores this last event.
            tracing::warn!(error = %e, "gave up after resync");
            return Some(Some(Ok(ev)));
        }
        Some(Some(Err(e)))
    }

    /// Waits for a frame, the token's refresh time or the cancellation.
    async fn wait(&mut self) -> Step {
        let due = self.refresh_due();
        let cancel = self.cancel.clone();
        let mut state = self.state.clone();
        let ws = self.socket.as_mut().expect("connected");
        tokio::select! {
            _ = cancel.cancelled() => Step::Cancelled,
            _ = state.changed() => Step::Control,
            _ = async {
                match due {
                    Some(at) => tokio::time::sleep(until(at)).await,
                    None => std::future::pending().await,
                }
            } => Step::Refresh,
            m = ws.next() => Step::Frame(m),
        }
    }

    /// Acts on what `wait` got; `Some` with what `next` returns.
    async fn on_step(&mut self, step: Step) -> Option<Next> {
        match step {
            Step::Cancelled => {}
            Step::Control => self.on_control().await,
            Step::Refresh => {
                if let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "token refresh failed");
                }
            }
            Step::Frame(Some(Ok(Message::Close(Some(f)))))
                if u16::from(f.code) == bookstrack_protocol::CLOSE_TOKEN_EXPIRED =>
            {
                self.socket = None;
                return self.on_token_expired().await;
            }
            Step::Frame(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => self.socket = None,
            Step::Frame(Some(Ok(m))) => {
                let next = match decode::<Envelope>(&m)? {
                    Ok(env) => self.on_envelope(env),
                    Err(e) => Some(Some(Err(ClientError::Protocol(e)))),
                };
                if let Some(Some(Ok(env))) = &next {
                    if env.payload().is_terminal() {
                        self.acknowledge(env.seq().unwrap_or(0)).await;
                    }
                }
                return next;
            }
        }
        None
    }

    /// A server message: a job event not seen yet is `next`'s answer;
    /// replies to our own messages and events already delivered are not.
    fn on_envelope(&mut self, env: Envelope) -> Option<Next> {
        match env.payload() {
            Payload::Pong {} | Payload::Ping {} | Payload::ReadyAck {} => None,
            Payload::JobState { state } => {
                self.last_seq = self.last_seq.max(state.last_seq);
                Some(Some(Ok(env)))
            }
            p => {
                let seq = env.seq().unwrap_or(0);
                if seq <= self.last_seq {
                    return None;
                }
                self.last_seq = seq;
                if p.is_terminal() {
                    self.finish();
                }
                Some(Some(Ok(env)))
            }
        }
    }
}
