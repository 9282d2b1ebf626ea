//! `GET /ws/progress`: authenticate before the upgrade, then one task per
//! socket that answers the client and writes what the job owner could not
//! write at once (see `job::viewer`).

pub mod codec;
mod handshake;

use crate::app::App;
use crate::clock;
use crate::http::{auth_err, authorize, ApiErr};
use crate::job::{replay_from_store, OwnerMsg, Protocol, SubscribeError, Viewer};
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bookstrack_protocol::{ClientMessage, ErrorCode, MessageFactory, Pipeline, V1Message};
use codec::{encode, encode_close, Decoder, Incoming, Violation, OP_PING, OP_PONG, OP_TEXT};
use handshake::Upgrade;
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Bytes read from a socket at a time, into a buffer that lives only for
/// the read: clients send only small messages (`ready`, `ping`).
const READ_CHUNK: usize = 1024;

/// How long a closing socket waits for its last frames to drain and for
/// the client's close.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_INTERNAL: u16 = 1011;
pub const CLOSE_TRY_AGAIN: u16 = 1013;

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    #[serde(rename = "jobId")]
    job_id: Option<String>,
    token: Option<String>,
    #[serde(rename = "lastSeq")]
    last_seq: Option<u64>,
    protocol: Option<String>,
}

pub async fn ws_progress(State(app): State<Arc<App>>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let q = match Query::<WsQuery>::try_from_uri(&parts.uri) {
        Ok(Query(q)) => q,
        Err(e) => {
            return ApiErr::bad_request(ErrorCode::InvalidRequest, e.body_text()).into_response()
        }
    };
    let Some(job_id) = q.job_id.filter(|j| !j.is_empty()) else {
        return ApiErr::bad_request(ErrorCode::InvalidRequest, "jobId is required").into_response();
    };
    if let Err(e) = authorize(&app, &job_id, q.token.as_deref()).await {
        return auth_err(e).into_response();
    }
    let protocol = match q.protocol.as_deref() {
        None | Some("v2") => Protocol::V2,
        Some("v1") => Protocol::V1,
        Some(other) => {
            return ApiErr::bad_request(
                ErrorCode::InvalidRequest,
                format!("unknown protocol {other:?}: use v1 or v2"),
            )
            .into_response()
        }
    };
    let handle = app.registry.get(&job_id);
    if let Some(h) = &handle {
        if h.viewer_count() >= app.config.max_viewers_per_job {
            return ApiErr::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyConnections,
                format!(
                    "this job already has {} viewers",
                    app.config.max_viewers_per_job
                ),
            )
            .into_response();
        }
    }
    let upgrade = match Upgrade::check(&mut parts) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let last_seq = q.last_seq.unwrap_or(0);
    let tracker = app.tracker.clone();
    // Tracked so that shutdown waits for the 1001 close.
    upgrade.respond(&tracker, move |socket, early| {
        session(app, socket, early, job_id, last_seq, protocol)
    })
}

/// How a viewer was attached: to a live owner, or from the log of a job
/// with no owner (`terminal` tells whether that job has ended).
struct Attached {
    pipeline: Pipeline,
    live: bool,
    terminal: bool,
}

/// Registers the viewer with the live owner, or, for a job that has ended,
/// fills it from the event log.
async fn attach(
    app: &Arc<App>,
    viewer: &Arc<Viewer>,
    job_id: &str,
    last_seq: u64,
) -> Result<Attached, (u16, String)> {
    if let Some(h) = app.registry.get(job_id) {
        let (reply, rx) = oneshot::channel();
        let msg = OwnerMsg::Subscribe {
            viewer: viewer.clone(),
            last_seq,
            reply,
        };
        if h.tx.send(msg).await.is_ok() {
            match rx.await {
                Ok(Ok(())) => {
                    return Ok(Attached {
                        pipeline: h.pipeline,
                        live: true,
                        terminal: false,
                    })
                }
                Ok(Err(e @ SubscribeError::Full(_))) => {
                    return Err((CLOSE_TRY_AGAIN, e.to_string()))
                }
                Ok(Err(e)) => return Err((CLOSE_INTERNAL, e.to_string())),
                // The owner ended meanwhile: everything is in storage.
                Err(_) => {}
            }
        }
    }
    let state = match app.store.job_state(job_id).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err((CLOSE_POLICY, "job not found".into())),
        Err(e) => return Err((CLOSE_INTERNAL, e.to_string())),
    };
    let frames = replay_from_store(
        app.store.as_ref(),
        &state,
        last_seq,
        app.config.event_retention,
        &[],
    )
    .await
    .map_err(|e| (CLOSE_INTERNAL, e.to_string()))?;
    viewer.push_replay(frames);
    viewer.finish();
    Ok(Attached {
        pipeline: state.pipeline,
        live: false,
        terminal: state.status.is_terminal(),
    })
}

/// How a session ends.
enum End {
    /// Send this close frame, then wait briefly for the client's.
    Close(u16, String),
    /// The client closed or went away: nothing more to send.
    Gone,
}

async fn session(
    app: Arc<App>,
    socket: TcpStream,
    early: Vec<u8>,
    job_id: String,
    last_seq: u64,
    protocol: Protocol,
) {
    app.metrics.open_sockets.fetch_add(1, Ordering::Relaxed);
    // Small frames go out as soon as they are written, not after an ACK.
    let _ = socket.set_nodelay(true);
    let socket = Arc::new(socket);
    let viewer = Viewer::with_socket(
        protocol,
        app.config.viewer_queue,
        app.metrics.clone(),
        socket.clone(),
    );
    let mut conn = Conn {
        app: &app,
        socket: &socket,
        viewer: &viewer,
        decoder: Decoder::new(app.config.max_ws_message_bytes),
        job_id: &job_id,
        protocol,
    };
    // The rarely taken steps are boxed: the socket's task lives as long as
    // the socket, and its size is the largest state any step needs.
    let end = match Box::pin(attach(&app, &viewer, &job_id, last_seq)).await {
        Ok(attached) => conn.run(attached, early).await,
        Err((code, reason)) => End::Close(code, reason),
    };
    if let End::Close(code, reason) = end {
        viewer.send_close(encode_close(code, &reason));
        Box::pin(conn.closing()).await;
    }
    viewer.close();
    app.metrics.open_sockets.fetch_sub(1, Ordering::Relaxed);
}

/// One socket's task: answers the client, writes what the owner could not
/// write at once, pings a silent client and closes.
struct Conn<'a> {
    app: &'a Arc<App>,
    socket: &'a TcpStream,
    viewer: &'a Viewer,
    decoder: Decoder,
    job_id: &'a str,
    protocol: Protocol,
}

/// Reads what has arrived without waiting; `Ok(false)` at end of stream.
/// The buffer lives only for the call, so an idle socket holds none.
fn read_now(
    socket: &TcpStream,
    decoder: &mut Decoder,
    out: &mut Vec<Incoming>,
) -> Result<bool, Violation> {
    let mut buf = [0u8; READ_CHUNK];
    loop {
        match socket.try_read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => decoder.feed(&buf[..n], out)?,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(true),
            Err(_) => return Ok(false),
        }
    }
}

impl Conn<'_> {
    async fn run(&mut self, attached: Attached, early: Vec<u8>) -> End {
        let app = self.app;
        // A job with no owner that has not ended cannot progress here (it
        // is being recovered): close so the client retries, rather than 1000.
        let (end_code, end_reason) = if attached.live || attached.terminal {
            (CLOSE_NORMAL, "job finished")
        } else {
            (CLOSE_TRY_AGAIN, "job not running")
        };
        let factory = MessageFactory::new(self.job_id.to_string(), attached.pipeline);
        let mut incoming = Vec::new();
        let fed = self.decoder.feed(&early, &mut incoming);
        drop(early);
        if let Err(v) = fed {
            return End::Close(v.code, v.reason.into());
        }
        let ping_interval = app.config.ws_ping_interval;
        let mut next_ping = Instant::now() + ping_interval;
        let mut heard = true;
        let mut awaiting_pong: Option<Instant> = None;
        let mut want_write = false;
        loop {
            for msg in incoming.drain(..) {
                heard = true;
                awaiting_pong = None;
                if let Some(end) = Box::pin(self.answer(msg, &factory)).await {
                    return end;
                }
            }
            let wake_at = awaiting_pong.map_or(next_ping, |at| at + app.config.ws_pong_timeout);
            tokio::select! {
                biased;
                _ = app.cancel.cancelled() => {
                    return End::Close(CLOSE_GOING_AWAY, "server shutting down".into());
                }
                _ = self.viewer.wait() => {}
                // One readiness future for both directions: each costs
                // 150 bytes of this long-lived task (BENCHMARKS.md).
                ready = self.socket.ready(if want_write {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                }) => {
                    let Ok(ready) = ready else {
                        return End::Gone;
                    };
                    if ready.is_readable() || ready.is_read_closed() {
                        match read_now(self.socket, &mut self.decoder, &mut incoming) {
                            Ok(true) => {}
                            Ok(false) => return End::Gone,
                            Err(v) => return End::Close(v.code, v.reason.into()),
                        }
                    }
                    if !ready.is_writable() {
                        continue;
                    }
                }
                _ = tokio::time::sleep_until(wake_at) => {
                    if awaiting_pong.is_some() {
                        tracing::debug!(job_id = %self.job_id, "closing a socket that stopped answering pings");
                        return End::Gone;
                    }
                    if !heard {
                        self.viewer.send_control(encode(OP_PING, b""));
                        awaiting_pong = Some(Instant::now());
                    }
                    heard = false;
                    next_ping = Instant::now() + ping_interval;
                    continue;
                }
            }
            match self.viewer.flush() {
                Ok(f) if f.drained && f.finished => return End::Close(end_code, end_reason.into()),
                Ok(f) => want_write = !f.drained,
                Err(_) => return End::Gone,
            }
        }
    }

    /// Answers one client message; `Some` when the session must end.
    async fn answer(&mut self, msg: Incoming, factory: &MessageFactory) -> Option<End> {
        let control = |env: bookstrack_protocol::Envelope| {
            let json = match self.protocol {
                Protocol::V2 => env.to_json(),
                Protocol::V1 => V1Message::from_envelope(&env).to_json(),
            };
            encode(OP_TEXT, json.as_bytes())
        };
        match msg {
            Incoming::Text(t) => match serde_json::from_str::<ClientMessage>(&t) {
                Ok(ClientMessage::Ready { .. }) => {
                    // The ack goes first: once told, the owner may write
                    // events to this socket straight away.
                    self.viewer
                        .send_control(control(factory.ready_ack(clock::now_ms())));
                    if let Some(h) = self.app.registry.get(self.job_id) {
                        let _ = h.tx.send(OwnerMsg::Ready).await;
                    }
                }
                Ok(ClientMessage::Ping { .. }) => {
                    self.viewer
                        .send_control(control(factory.pong(clock::now_ms())));
                }
                Ok(ClientMessage::Unknown) | Err(_) => {}
            },
            Incoming::Ping(payload) => self.viewer.send_control(encode(OP_PONG, &payload)),
            Incoming::Pong | Incoming::Binary => {}
            // Echo the close (RFC 6455 §5.5.1) and stop.
            Incoming::Close(code) => {
                self.viewer
                    .send_close(encode_close(code.unwrap_or(CLOSE_NORMAL), ""));
                self.drain_out(CLOSE_GRACE).await;
                return Some(End::Gone);
            }
        }
        None
    }

    /// After our close frame: write it out, then wait a moment for the
    /// client's close or end of stream, so the client reads everything
    /// before the connection goes (closing with unread input would reset it).
    async fn closing(&mut self) {
        let deadline = Instant::now() + CLOSE_GRACE;
        if !self.drain_out(CLOSE_GRACE).await {
            return;
        }
        let mut incoming = Vec::new();
        loop {
            tokio::select! {
                ready = self.socket.readable() => {
                    if ready.is_err() {
                        return;
                    }
                    match read_now(self.socket, &mut self.decoder, &mut incoming) {
                        Ok(true) if !incoming.iter().any(|m| matches!(m, Incoming::Close(_))) => {
                            incoming.clear()
                        }
                        _ => return,
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// Writes everything waiting, for at most `limit`; whether it all went.
    async fn drain_out(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            match self.viewer.flush() {
                Ok(f) if f.drained => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
            tokio::select! {
                ready = self.socket.writable() => {
                    if ready.is_err() {
                        return false;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return false,
            }
        }
    }
}
