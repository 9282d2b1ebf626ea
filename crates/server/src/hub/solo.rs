//! One socket driven by a task of its own: a multiplexed socket
//! (`ws::mux`) follows many jobs, so no one job's owner can drive it. The
//! reading, writing, pings and closing handshake are a job socket's
//! (`hub::conn`); what the client sends is handed back to the caller to
//! answer, and the caller learns when the socket has room for more.

use super::codec::{CloseCode, Incoming};
use super::conn::{Answer, Conn, Turn};
use super::driver::{Connection, Timing};
use super::viewer::Viewer;
use super::AckSink;
use std::future::{poll_fn, Future};
use std::task::Poll;
use tokio::time::Instant;

/// What `Solo::serve` stopped for.
#[derive(Debug)]
pub enum SoloEvent {
    /// The client's data messages, in order.
    Messages(Vec<Incoming>),
    /// Fewer frames than asked are waiting: the caller may hand over more.
    Room,
    /// The connection is done with.
    Gone,
}

pub struct Solo {
    conn: Conn,
    timing: Timing,
}

impl Solo {
    pub fn new(c: Connection, timing: Timing) -> Solo {
        Solo {
            conn: Conn::new(c, timing),
            timing,
        }
    }

    pub fn viewer(&mut self) -> &mut Viewer {
        &mut self.conn.viewer
    }

    /// Queues the close behind what is waiting; the socket goes once the
    /// client answers or the grace passes.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        self.conn.close(code, reason);
    }

    pub fn is_closing(&self) -> bool {
        self.conn.is_closing()
    }

    /// Serves the socket until the client has sent something, its queue
    /// is under `room` frames while the caller has more (`room > 0`), or it
    /// has gone. Cancel-safe: everything it holds lives in `self`.
    pub async fn serve(&mut self, room: usize, acks: Option<&dyn AckSink>) -> SoloEvent {
        let mut timer = Box::pin(tokio::time::sleep_until(self.conn.wake()));
        let mut timer_at = self.conn.wake();
        poll_fn(|cx| loop {
            let turn = Turn {
                now: Instant::now(),
                factory: None,
                timing: self.timing,
                end: (CloseCode::Normal, ""),
                acks,
            };
            let mut got = Vec::new();
            if !self.conn.poll(cx, &turn, Answer::Collect(&mut got)) {
                return Poll::Ready(SoloEvent::Gone);
            }
            if !got.is_empty() {
                return Poll::Ready(SoloEvent::Messages(got));
            }
            if room > 0 && self.conn.viewer.queued() < room {
                return Poll::Ready(SoloEvent::Room);
            }
            let wake = self.conn.wake();
            if wake != timer_at {
                timer.as_mut().reset(wake);
                timer_at = wake;
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        })
        .await
    }
}
