//! `GET /ws/progress`: authenticate before the upgrade, then hand the
//! socket to its job's owner, which drives it from then on (`crate::hub`).

pub(crate) mod handshake;
mod mux;
mod mux_subs;

pub use mux::ws_jobs;

use crate::api_error::{auth_err, ApiErr};
use crate::app::App;
use crate::auth::authorize_until;
use crate::clock;
use crate::hub::{
    CloseCode, Connection, Protocol, Slot, SlotRefused, Slots, Sockets, Viewer, Wire,
};
use crate::job::{EndedJobs, EndedViewer, JobDeps, OwnerMsg, SubscribeError, Subscription};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bookstrack_protocol::{ErrorCode, MessageFactory};
use handshake::Upgrade;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// A place for one more socket of the request's client: 503 once the
/// server holds `--max-sockets`, 429 once the client address holds
/// `--max-sockets-per-client` (docs/PROTOCOL.md §17).
pub(crate) fn slot(slots: &Arc<Slots>, parts: &Parts) -> Result<Slot, ApiErr> {
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    slots.acquire(client).map_err(|e| {
        let status = match e {
            SlotRefused::Total(_) => StatusCode::SERVICE_UNAVAILABLE,
            SlotRefused::Client(_) => StatusCode::TOO_MANY_REQUESTS,
        };
        ApiErr::new(status, ErrorCode::TooManyConnections, e.to_string())
            .retry_after(SOCKETS_RETRY_AFTER)
    })
}

/// The `Retry-After` of a socket refused for the socket limits.
const SOCKETS_RETRY_AFTER: Duration = Duration::from_secs(5);

fn too_many_viewers(max: usize) -> Response {
    ApiErr::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TooManyConnections,
        format!("this job already has {max} viewers"),
    )
    .into_response()
}

/// The job named is not one the server knows.
pub const CLOSE_POLICY: CloseCode = CloseCode::Policy;
/// The server could not serve the socket (the event log could not be read).
pub const CLOSE_INTERNAL: CloseCode = CloseCode::Error;
/// The job is full of viewers, or is not running here: come back later.
pub const CLOSE_TRY_AGAIN: CloseCode = CloseCode::Again;

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
    let expires_at = match authorize_until(
        app.jobs.store.as_ref(),
        &app.jobs.metrics,
        &job_id,
        q.token.as_deref(),
    )
    .await
    {
        Ok(at) => at,
        Err(e) => return auth_err(e).into_response(),
    };
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
    // A live job's viewers are counted by its owner, an ended job's here.
    let ended = match app.jobs.registry.get(&job_id) {
        Some(h) if h.viewer_count() >= app.jobs.limits.max_viewers_per_job => {
            return too_many_viewers(app.jobs.limits.max_viewers_per_job)
        }
        Some(_) => None,
        None => match app.ended.join(&job_id) {
            Ok(v) => Some(v),
            Err(max) => return too_many_viewers(max),
        },
    };
    let upgrade = match Upgrade::check(&mut parts) {
        Ok(u) => u,
        Err(e) => return *e,
    };
    let slot = match slot(&app.sockets, &parts) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let admit = Admit {
        expires: Some(Instant::now() + clock::until(expires_at)),
        slot,
        ended,
    };
    let last_seq = q.last_seq.unwrap_or(0);
    let tracker = app.jobs.tracker.clone();
    // Tracked so that shutdown waits for the 1001 close.
    let (jobs, ended) = (app.jobs.clone(), app.ended.clone());
    let wire = wire_of(&upgrade, protocol);
    upgrade.respond(&tracker, move |socket, early| {
        let target = Target {
            job_id,
            last_seq,
            wire,
        };
        session(jobs, ended, socket, early, target, admit)
    })
}

/// What a socket was admitted with, before its upgrade was answered.
struct Admit {
    /// When the token it presented expires.
    expires: Option<Instant>,
    slot: Slot,
    /// Its place among an ended job's viewers, if the job had no owner.
    ended: Option<EndedViewer>,
}

/// The job a socket follows, from where, in which encoding.
struct Target {
    job_id: String,
    last_seq: u64,
    wire: Wire,
}

/// The socket's encoding, from what its upgrade negotiated. MessagePack
/// carries the v2 envelope whatever `protocol` says.
fn wire_of(upgrade: &Upgrade, protocol: Protocol) -> Wire {
    let msgpack = upgrade.subprotocol == Some(bookstrack_protocol::mux::MSGPACK_SUBPROTOCOL);
    Wire {
        protocol: if msgpack { Protocol::V2 } else { protocol },
        msgpack,
        deflate: upgrade.deflate,
    }
}

/// Where a new socket went.
enum Handed {
    /// The owner took it.
    Owner,
    /// The owner refused it: close with this code and reason.
    Refused(CloseCode, String, Connection),
    /// No owner: the job has ended, or is not running here.
    NoOwner(Connection),
}

async fn to_owner(jobs: &JobDeps, conn: Connection, job_id: &str, last_seq: u64) -> Handed {
    let Some(h) = jobs.registry.get(job_id) else {
        return Handed::NoOwner(conn);
    };
    let (reply, rx) = oneshot::channel();
    let msg = OwnerMsg::Subscribe(Box::new(Subscription {
        conn,
        last_seq,
        reply,
    }));
    if let Err(e) = h.tx.send(msg).await {
        // The owner has stopped taking viewers: everything is in storage.
        let OwnerMsg::Subscribe(sub) = e.0 else {
            unreachable!("the message sent is a Subscribe")
        };
        return Handed::NoOwner(sub.conn);
    }
    match rx.await {
        Ok(Ok(())) => Handed::Owner,
        Ok(Err((e @ SubscribeError::Full(_), conn))) => {
            Handed::Refused(CLOSE_TRY_AGAIN, e.to_string(), conn)
        }
        Ok(Err((e, conn))) => Handed::Refused(CLOSE_INTERNAL, e.to_string(), conn),
        // The owner crashed holding it; the socket went with it.
        Err(_) => Handed::Owner,
    }
}

/// A viewer of a job with no owner gets the logged events after
/// `last_seq`, then a close: 1000 if the job has ended, 1013 if it has not
/// (it is being recovered, and cannot progress here). It counts among the
/// job's viewers (`ended`, taken now if the job was live at the upgrade)
/// until its socket closes, and shares the events with the others.
async fn from_store(
    jobs: &JobDeps,
    ended_jobs: &Arc<EndedJobs>,
    ended: Option<EndedViewer>,
    sockets: &mut Sockets,
    mut conn: Connection,
    t: &Target,
) -> Result<(MessageFactory, EndedViewer), (CloseCode, String, Connection)> {
    let viewer = match ended.map_or_else(|| ended_jobs.join(&t.job_id), Ok) {
        Ok(v) => v,
        Err(max) => {
            let m = format!("this job already has {max} viewers");
            return Err((CLOSE_TRY_AGAIN, m, conn));
        }
    };
    let state = match jobs.store.job_state(&t.job_id).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err((CLOSE_POLICY, "job not found".into(), conn)),
        Err(e) => return Err((CLOSE_INTERNAL, e.to_string(), conn)),
    };
    let retention = jobs.limits.event_retention;
    let frames = match viewer
        .owed(jobs.store.as_ref(), &state, t.last_seq, retention)
        .await
    {
        Ok(f) => f,
        Err(e) => return Err((CLOSE_INTERNAL, e.to_string(), conn)),
    };
    crate::job::count_resume(&jobs.metrics, t.last_seq, &frames);
    jobs.acks.replayed(&state, !frames.is_empty());
    sockets.set_acks(jobs.acks.clone());
    conn.viewer.push_replay(frames);
    conn.viewer.finish();
    if !state.status.is_terminal() {
        sockets.set_end(CLOSE_TRY_AGAIN, "job not running");
    }
    sockets.add(conn);
    let factory = MessageFactory::new(t.job_id.clone(), state.pipeline);
    Ok((factory, viewer))
}

async fn session(
    jobs: Arc<JobDeps>,
    ended_jobs: Arc<EndedJobs>,
    socket: TcpStream,
    early: Vec<u8>,
    t: Target,
    admit: Admit,
) {
    // Small frames go out as soon as they are written, not after an ACK.
    let _ = socket.set_nodelay(true);
    let viewer = Viewer::with_socket(
        t.wire,
        jobs.limits.viewer_queue,
        jobs.metrics.hub.clone(),
        socket,
    );
    let conn = Connection {
        expires: admit.expires,
        slot: Some(admit.slot),
        ..Connection::new(viewer, early)
    };
    // Without an owner, this task drives the socket until it closes.
    let mut sockets = Sockets::new(jobs.limits.timing, Arc::new(AtomicUsize::new(0)));
    let (code, reason, conn) = match to_owner(&jobs, conn, &t.job_id, t.last_seq).await {
        Handed::Owner => return,
        Handed::Refused(code, reason, conn) => (code, reason, conn),
        Handed::NoOwner(conn) => {
            match from_store(&jobs, &ended_jobs, admit.ended, &mut sockets, conn, &t).await {
                Ok((factory, _viewer)) => {
                    sockets.linger_until(Some(&factory), &jobs.cancel).await;
                    return;
                }
                Err(refused) => refused,
            }
        }
    };
    sockets.add(conn);
    sockets.close_all(code, &reason);
    sockets.linger_until(None, &jobs.cancel).await;
}
