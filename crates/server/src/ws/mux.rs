//! `GET /ws/jobs`: one socket, many jobs (docs/PROTOCOL.md §22).
//!
//! No token in the URL: each `subscribe` carries its job's token. The
//! socket has a task of its own (`hub::Solo`), since no one job's owner can
//! drive it; each job it follows is a relay its owner fills as it fills its
//! own viewers' sockets (`hub::relay`), so a job's events are still framed
//! once, and resume, `job_state`, coalescing and sticky terminal events
//! hold per job as on `/ws/progress`. The subscriptions are `mux_subs`.

use super::handshake::Upgrade;
use super::mux_subs::Subs;
use super::wire_of;
use crate::app::App;
use crate::hub::{
    Connection, Protocol, Solo, SoloEvent, Viewer, CLOSE_GOING_AWAY, CLOSE_UNREAD_REASON,
};
use crate::job::JobDeps;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Frames the socket may have waiting before the task stops taking more
/// from its relays: past it, each job's relay coalesces its own progress.
const ROOM: usize = 32;
/// How often live subscriptions' tokens are checked for expiry.
const EXPIRY_CHECK: Duration = Duration::from_secs(1);

pub async fn ws_jobs(State(app): State<Arc<App>>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let upgrade = match Upgrade::check(&mut parts) {
        Ok(u) => u,
        Err(e) => return *e,
    };
    let slot = match super::slot(&app.sockets, &parts) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let wire = wire_of(&upgrade, Protocol::V2);
    let (jobs, ended) = (app.jobs.clone(), app.ended.clone());
    let tracker = jobs.tracker.clone();
    upgrade.respond(&tracker, move |socket, early| {
        session(jobs, ended, socket, early, (wire, slot))
    })
}

async fn session(
    jobs: Arc<JobDeps>,
    ended: Arc<crate::job::EndedJobs>,
    socket: TcpStream,
    early: Vec<u8>,
    (wire, slot): (crate::hub::Wire, crate::hub::Slot),
) {
    let _ = socket.set_nodelay(true);
    let viewer = Viewer::with_socket(
        wire,
        jobs.limits.viewer_queue,
        jobs.metrics.hub.clone(),
        socket,
    );
    let conn = Connection {
        slot: Some(slot),
        ..Connection::new(viewer, early)
    };
    let mut solo = Solo::new(conn, jobs.limits.timing);
    let max_unread = jobs.limits.timing.max_unread_replies;
    let wake = Arc::new(Notify::new());
    let mut subs = Subs::new(jobs.clone(), ended, wake.clone());
    let mut expiry = tokio::time::interval(EXPIRY_CHECK);
    let mut shutting_down = false;
    loop {
        let room = if subs.waiting() { ROOM } else { 0 };
        let event = tokio::select! {
            e = solo.serve(room, None) => e,
            _ = wake.notified() => SoloEvent::Room,
            _ = expiry.tick() => {
                subs.expire(&mut solo);
                SoloEvent::Room
            }
            _ = jobs.cancel.cancelled(), if !shutting_down => {
                shutting_down = true;
                solo.close(CLOSE_GOING_AWAY, "server shutting down");
                SoloEvent::Room
            }
        };
        match event {
            SoloEvent::Gone => break,
            SoloEvent::Messages(msgs) => {
                for m in msgs {
                    subs.handle(m, &mut solo).await;
                }
            }
            SoloEvent::Room => {}
        }
        // Every request may be answered: past the bound, the client is
        // not reading its answers (1008). A turn reads at most 256
        // messages (`hub::conn::READ_MESSAGES`), so this is checked often.
        if solo.viewer().unread_replies() > max_unread && !solo.is_closing() {
            solo.close(crate::hub::CloseCode::Policy, CLOSE_UNREAD_REASON);
        }
        if !solo.is_closing() {
            subs.forward(&mut solo, ROOM);
        }
    }
    // Dropping the subscriptions lets their owners drop the relays.
    drop(subs);
}
