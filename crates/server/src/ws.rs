//! `GET /ws/progress`: authenticate before the upgrade, then one task per
//! socket that writes the viewer's queue and answers the client.

use crate::app::App;
use crate::clock;
use crate::http::{auth_err, authorize, ApiErr};
use crate::job::{replay_from_store, Frame, OwnerMsg, Protocol, SubscribeError, Viewer};
use crate::metrics::Metrics;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bookstrack_protocol::{ClientMessage, ErrorCode, MessageFactory, Pipeline, V1Message};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Read buffer per socket, allocated up front: clients send only tiny
/// frames (`ready`, `ping`), and a larger one still arrives, over several
/// reads. Measured with `bookstrack bench idle` (BENCHMARKS.md): 4096 bytes
/// here cost ~4 KiB more per idle socket than 256.
const WS_READ_BUFFER: usize = 256;

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

pub async fn ws_progress(
    State(app): State<Arc<App>>,
    query: Result<Query<WsQuery>, axum::extract::rejection::QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
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
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let max = app.config.max_ws_message_bytes;
    upgrade
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| {
            // Tracked so that shutdown waits for the 1001 close; tracked
            // in place rather than spawned again, so each socket costs one
            // task and its state is stored once.
            let tracker = app.tracker.clone();
            let last_seq = q.last_seq.unwrap_or(0);
            tracker.track_future(session(app, socket, job_id, last_seq, protocol))
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

async fn session(
    app: Arc<App>,
    socket: WebSocket,
    job_id: String,
    last_seq: u64,
    protocol: Protocol,
) {
    app.metrics.open_sockets.fetch_add(1, Ordering::Relaxed);
    let viewer = Viewer::new(protocol, app.config.viewer_queue, app.metrics.clone());
    let (mut sink, mut stream) = socket.split();
    let close = |code: u16, reason: &str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason.to_string()),
        }))
    };
    let attached = match attach(&app, &viewer, &job_id, last_seq).await {
        Ok(a) => a,
        Err((code, reason)) => {
            let _ = sink.send(close(code, &reason)).await;
            app.metrics.open_sockets.fetch_sub(1, Ordering::Relaxed);
            return;
        }
    };
    // A job with no owner that has not ended cannot progress here (it is
    // being recovered): close so the client retries, rather than 1000.
    let (end_code, end_reason) = if attached.live || attached.terminal {
        (CLOSE_NORMAL, "job finished")
    } else {
        (CLOSE_TRY_AGAIN, "job not running")
    };
    let factory = MessageFactory::new(job_id.clone(), attached.pipeline);
    let control = |env: bookstrack_protocol::Envelope| -> Message {
        match protocol {
            Protocol::V2 => Message::Text(Utf8Bytes::from(env.to_json())),
            Protocol::V1 => {
                Message::Text(Utf8Bytes::from(V1Message::from_envelope(&env).to_json()))
            }
        }
    };
    let ping_interval = app.config.ws_ping_interval;
    let mut ticker = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
    let mut heard = true;
    let mut awaiting_pong: Option<Instant> = None;
    let mut batch: Vec<Arc<Frame>> = Vec::new();
    let outcome: Result<(), ()> = async {
        loop {
            let pong_deadline = async {
                match awaiting_pong {
                    Some(at) => tokio::time::sleep_until(at + app.config.ws_pong_timeout).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = app.cancel.cancelled() => {
                    let _ = sink.send(close(CLOSE_GOING_AWAY, "server shutting down")).await;
                    return Ok(());
                }
                _ = viewer.wait() => {
                    let finished = viewer.drain_into(&mut batch);
                    for f in batch.drain(..) {
                        sink.feed(Message::Text(f.text(protocol))).await.map_err(|_| ())?;
                        Metrics::inc(&app.metrics.events_sent);
                    }
                    sink.flush().await.map_err(|_| ())?;
                    if finished {
                        let _ = sink.send(close(end_code, end_reason)).await;
                        return Ok(());
                    }
                }
                msg = stream.next() => {
                    heard = true;
                    awaiting_pong = None;
                    match msg {
                        Some(Ok(Message::Text(t))) => match serde_json::from_str::<ClientMessage>(t.as_str()) {
                            Ok(ClientMessage::Ready { .. }) => {
                                if let Some(h) = app.registry.get(&job_id) {
                                    let _ = h.tx.send(OwnerMsg::Ready).await;
                                }
                                sink.send(control(factory.ready_ack(clock::now_ms()))).await.map_err(|_| ())?;
                            }
                            Ok(ClientMessage::Ping { .. }) => {
                                sink.send(control(factory.pong(clock::now_ms()))).await.map_err(|_| ())?;
                            }
                            Ok(ClientMessage::Unknown) | Err(_) => {}
                        },
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(()),
                        Some(Ok(_)) => {}
                    }
                }
                _ = pong_deadline => {
                    tracing::debug!(job_id = %job_id, "closing a socket that stopped answering pings");
                    return Err(());
                }
                _ = ticker.tick() => {
                    if !heard && awaiting_pong.is_none() {
                        sink.send(Message::Ping(bytes::Bytes::new())).await.map_err(|_| ())?;
                        awaiting_pong = Some(Instant::now());
                    }
                    heard = false;
                }
            }
        }
    }
    .await;
    let _ = outcome;
    viewer.close();
    app.metrics.open_sockets.fetch_sub(1, Ordering::Relaxed);
}
