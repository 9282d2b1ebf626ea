//! The sockets of one job's viewers, driven by the task that owns the job.
//!
//! A socket has no task of its own: the job's owner, which already writes
//! each event straight to its viewers' sockets, also polls them for what
//! clients send (`ready`, `ping`, close), writes out what the kernel did not
//! take at once, pings silent clients and runs the closing handshake. An
//! idle socket then costs its viewer, its decoder and tokio's registration,
//! not a task with its own timer and wakers (BENCHMARKS.md `idle`; the steps there in `docs/perf-notes.md`).
//! Viewers of a job with no owner (it has ended) get a short-lived
//! `Sockets` of their own (see `ws::session`).

use super::codec::CloseCode;
use super::conn::{Answer, Conn, Turn};
use super::frame::Frame;
use super::relay::RelayTx;
use super::viewer::Viewer;
use super::{AckSink, CLOSE_GOING_AWAY, CLOSE_NORMAL};
use bookstrack_protocol::MessageFactory;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

/// How long a closing socket waits for its last frames to drain and for
/// the client's close, so that the client reads everything before the
/// connection goes (closing with unread input would reset it).
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A socket just upgraded, on its way to the task that will drive it.
pub struct Connection {
    /// Holds the stream.
    pub viewer: Viewer,
    /// Bytes the client sent right behind its upgrade request.
    pub early: Vec<u8>,
    /// When the token it was opened with expires (`None`: never checked).
    pub expires: Option<Instant>,
    /// Its place in the socket limits, given back when it closes.
    pub slot: Option<super::Slot>,
}

impl Connection {
    pub fn new(viewer: Viewer, early: Vec<u8>) -> Connection {
        Connection {
            viewer,
            early,
            expires: None,
            slot: None,
        }
    }
}

/// Pings, message size and the replies bound, built by the caller from
/// its configuration (`Config::hub_timing`).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub ping_interval: Duration,
    pub pong_timeout: Duration,
    pub max_message: usize,
    /// Replies (pongs, `ready_ack`, notices) a client may leave unread
    /// before its socket is closed with 1008.
    pub max_unread_replies: usize,
}

/// The viewers' sockets of one job.
pub struct Sockets {
    conns: Vec<Conn>,
    /// Multiplexed sockets following this job, driven by their own tasks.
    relays: Vec<RelayTx>,
    /// Where the viewers' acks go.
    acks: Option<Arc<dyn AckSink>>,
    timing: Timing,
    /// The close a viewer gets once it has been sent everything.
    end: (CloseCode, &'static str),
    /// Viewer count shared with the registry (the 429 before an upgrade).
    count: Arc<AtomicUsize>,
    /// One timer for every socket's deadlines, reset only when the earliest
    /// of them moves; made with the first socket.
    timer: Option<Pin<Box<Sleep>>>,
    timer_at: Option<Instant>,
}

impl Sockets {
    pub fn new(timing: Timing, count: Arc<AtomicUsize>) -> Sockets {
        Sockets {
            conns: Vec::new(),
            relays: Vec::new(),
            acks: None,
            timing,
            end: (CLOSE_NORMAL, "job finished"),
            count,
            timer: None,
            timer_at: None,
        }
    }

    /// Viewers: sockets of this job's own and multiplexed ones.
    pub fn len(&self) -> usize {
        self.conns.len() + self.relays.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where a client's `ack` of this job goes.
    pub fn set_acks(&mut self, acks: Arc<dyn AckSink>) {
        self.acks = Some(acks);
    }

    /// A multiplexed socket's relay, whose replay is already pushed.
    pub fn add_relay(&mut self, relay: RelayTx) {
        self.relays.push(relay);
        self.update_count();
    }

    /// The close sent to viewers once they have everything: 1000 unless the
    /// job cannot progress here.
    pub fn set_end(&mut self, code: CloseCode, reason: &'static str) {
        self.end = (code, reason);
    }

    /// Takes over a socket whose viewer already holds its replay.
    pub fn add(&mut self, c: Connection) {
        let conn = Conn::new(c, self.timing);
        // Most jobs have one viewer: no room for four.
        self.conns.reserve_exact(1);
        self.conns.push(conn);
        self.update_count();
    }

    /// Hands a live frame to every viewer, dropping those gone.
    pub fn push(&mut self, frame: &Arc<Frame>) {
        let before = self.len();
        self.conns.retain_mut(|c| c.viewer.push(frame.clone()));
        self.relays.retain(|r| r.push(frame));
        if self.len() != before {
            self.update_count();
        }
    }

    /// Nothing more will come: each viewer closes once drained, and each
    /// relay, told so, is let go.
    pub fn finish(&mut self) {
        for c in &mut self.conns {
            c.viewer.finish();
        }
        for r in self.relays.drain(..) {
            r.finish();
        }
        self.update_count();
    }

    /// Queues a close behind what each socket still has to send. Relays
    /// are let go: their sockets' tasks close them on shutdown themselves.
    pub fn close_all(&mut self, code: CloseCode, reason: &str) {
        for c in &mut self.conns {
            c.close(code, reason);
        }
        self.relays.clear();
        self.update_count();
    }

    /// Serves the sockets until every one has closed: within `CLOSE_GRACE`
    /// once closing, within a ping timeout before.
    pub async fn linger(&mut self, factory: Option<&MessageFactory>) {
        poll_fn(|cx| {
            let _ = self.poll_ready(cx, factory);
            if self.conns.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// `linger`, closing every socket with 1001 if the server shuts down.
    pub async fn linger_until(
        &mut self,
        factory: Option<&MessageFactory>,
        cancel: &CancellationToken,
    ) {
        tokio::select! {
            _ = self.linger(factory) => return,
            _ = cancel.cancelled() => {}
        }
        self.close_all(CLOSE_GOING_AWAY, "server shutting down");
        self.linger(factory).await;
    }

    /// Serves the sockets; returns when a client has sent `ready`.
    pub async fn ready(&mut self, factory: &MessageFactory) {
        poll_fn(|cx| self.poll_ready(cx, Some(factory))).await;
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>, factory: Option<&MessageFactory>) -> Poll<()> {
        let mut ready = false;
        loop {
            let turn = Turn {
                now: Instant::now(),
                factory,
                timing: self.timing,
                end: self.end,
                acks: self.acks.as_deref(),
            };
            let before = self.conns.len();
            self.conns
                .retain_mut(|c| c.poll(cx, &turn, Answer::Job(&mut ready)));
            if self.conns.len() != before {
                self.update_count();
            }
            let Some(next) = self.conns.iter().map(Conn::wake).min() else {
                self.timer_at = None;
                break;
            };
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
            if self.timer_at != Some(next) {
                timer.as_mut().reset(next);
                self.timer_at = Some(next);
            }
            // A deadline passed: go round again so that its socket acts.
            if timer.as_mut().poll(cx).is_pending() {
                break;
            }
        }
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn update_count(&self) {
        self.count.store(self.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
#[path = "fair_tests.rs"]
mod fair_tests;
