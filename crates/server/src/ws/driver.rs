//! The sockets of one job's viewers, driven by the task that owns the job.
//!
//! A socket has no task of its own: the job's owner, which already writes
//! each event straight to its viewers' sockets, also polls them for what
//! clients send (`ready`, `ping`, close), writes out what the kernel did not
//! take at once, pings silent clients and runs the closing handshake. An
//! idle socket then costs its viewer, its decoder and tokio's registration,
//! not a task with its own timer and wakers (BENCHMARKS.md, `idle`).
//! Viewers of a job with no owner (it has ended) get a short-lived
//! `Sockets` of their own (see `ws::attach`).

use super::codec::{encode, encode_close, Decoder, Incoming, OP_PING, OP_PONG, OP_TEXT};
use super::{CLOSE_GOING_AWAY, CLOSE_NORMAL};
use crate::clock;
use crate::config::Config;
use crate::job::{Frame, Protocol, Viewer};
use bookstrack_protocol::{ClientMessage, Envelope, MessageFactory, V1Message};
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

/// Bytes read from a socket at a time, into a buffer that lives only for
/// the read: clients send only small messages (`ready`, `ping`).
const READ_CHUNK: usize = 1024;

/// A socket just upgraded, on its way to the task that will drive it.
pub struct Connection {
    /// Holds the stream.
    pub viewer: Viewer,
    /// Bytes the client sent right behind its upgrade request.
    pub early: Vec<u8>,
}

/// Pings and message size, from `Config`.
#[derive(Clone, Copy)]
pub struct Timing {
    pub ping_interval: Duration,
    pub pong_timeout: Duration,
    pub max_message: usize,
}

impl Timing {
    pub fn of(config: &Config) -> Timing {
        Timing {
            ping_interval: config.ws_ping_interval,
            pong_timeout: config.ws_pong_timeout,
            max_message: config.max_ws_message_bytes,
        }
    }
}

/// One socket's entry, kept small: most sockets are idle, and one holds
/// its decoder only between the pieces of a message, its early messages
/// only until its first poll.
struct Conn {
    viewer: Viewer,
    decoder: Option<Box<Decoder>>,
    /// Messages decoded from the upgrade's early bytes, not answered yet.
    early: Box<[Incoming]>,
    /// The client sent something since the last ping tick.
    heard: bool,
    /// The next ping tick, or the pong deadline while a ping is out, or the
    /// close deadline once closing.
    wake: Instant,
    awaiting_pong: bool,
    /// Our close frame is queued; `wake` is then the last moment to wait.
    closing: bool,
    /// The client closed or broke the protocol: nothing more to read.
    done_reading: bool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.viewer.close();
        (self.viewer.metrics().open_sockets).fetch_sub(1, Ordering::Relaxed);
    }
}

/// The viewers' sockets of one job.
pub struct Sockets {
    conns: Vec<Conn>,
    timing: Timing,
    /// The close a viewer gets once it has been sent everything.
    end: (u16, &'static str),
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
            timing,
            end: (CLOSE_NORMAL, "job finished"),
            count,
            timer: None,
            timer_at: None,
        }
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// The close sent to viewers once they have everything: 1000 unless the
    /// job cannot progress here.
    pub fn set_end(&mut self, code: u16, reason: &'static str) {
        self.end = (code, reason);
    }

    /// Takes over a socket whose viewer already holds its replay.
    pub fn add(&mut self, c: Connection) {
        c.viewer
            .metrics()
            .open_sockets
            .fetch_add(1, Ordering::Relaxed);
        let mut conn = Conn {
            viewer: c.viewer,
            decoder: None,
            early: Box::default(),
            heard: true,
            wake: Instant::now() + self.timing.ping_interval,
            awaiting_pong: false,
            closing: false,
            done_reading: false,
        };
        let mut early = Vec::new();
        if let Err(v) = conn.feed(&c.early, &mut early, self.timing.max_message) {
            conn.close(v.code, v.reason);
        }
        conn.early = early.into_boxed_slice();
        // Most jobs have one viewer: no room for four.
        self.conns.reserve_exact(1);
        self.conns.push(conn);
        self.update_count();
    }

    /// Hands a live frame to every viewer, dropping those gone.
    pub fn push(&mut self, frame: &Arc<Frame>) {
        let before = self.conns.len();
        self.conns.retain_mut(|c| c.viewer.push(frame.clone()));
        if self.conns.len() != before {
            self.update_count();
        }
    }

    /// Nothing more will come: each viewer closes once drained.
    pub fn finish(&mut self) {
        for c in &mut self.conns {
            c.viewer.finish();
        }
    }

    /// Queues a close behind what each socket still has to send.
    pub fn close_all(&mut self, code: u16, reason: &str) {
        for c in &mut self.conns {
            c.close(code, reason);
        }
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
        .await
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
        self.linger(factory).await
    }

    /// Serves the sockets; returns when a client has sent `ready`.
    pub async fn ready(&mut self, factory: &MessageFactory) {
        poll_fn(|cx| self.poll_ready(cx, Some(factory))).await
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>, factory: Option<&MessageFactory>) -> Poll<()> {
        let mut ready = false;
        loop {
            let now = Instant::now();
            let before = self.conns.len();
            let (timing, end) = (self.timing, self.end);
            self.conns
                .retain_mut(|c| c.poll(cx, now, factory, timing, end, &mut ready));
            if self.conns.len() != before {
                self.update_count();
            }
            let Some(next) = self.conns.iter().map(|c| c.wake).min() else {
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
        self.count.store(self.conns.len(), Ordering::Relaxed);
    }
}

impl Conn {
    fn close(&mut self, code: u16, reason: &str) {
        if !self.closing {
            self.viewer.send_close(encode_close(code, reason));
            self.closing = true;
            self.wake = Instant::now() + CLOSE_GRACE;
        }
    }

    fn control(&mut self, env: Envelope) {
        let json = match self.viewer.protocol {
            Protocol::V2 => env.to_json(),
            Protocol::V1 => V1Message::from_envelope(&env).to_json(),
        };
        self.viewer.send_control(encode(OP_TEXT, json.as_bytes()));
    }

    /// Reads, answers, writes and keeps time; `false` once the socket is
    /// done with.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        now: Instant,
        factory: Option<&MessageFactory>,
        timing: Timing,
        end: (u16, &'static str),
        ready: &mut bool,
    ) -> bool {
        let mut incoming = std::mem::take(&mut self.early).into_vec();
        while !self.done_reading {
            let Some(socket) = self.viewer.socket() else {
                return false;
            };
            match socket.poll_read_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(Err(_)) => return false,
                Poll::Ready(Ok(())) => match self.read_now(&mut incoming, timing.max_message) {
                    Ok(true) => {}
                    // End of stream: the client has gone.
                    Ok(false) => return false,
                    Err(v) => {
                        self.done_reading = true;
                        self.close(v.code, v.reason);
                    }
                },
            }
        }
        for msg in incoming {
            self.heard = true;
            if self.awaiting_pong {
                self.awaiting_pong = false;
                if !self.closing {
                    self.wake = now + timing.ping_interval;
                }
            }
            match msg {
                // A closing socket answers no more messages; nor does one
                // refused before it knew its job.
                Incoming::Text(_) if self.closing => {}
                Incoming::Text(t) => match (serde_json::from_str::<ClientMessage>(&t), factory) {
                    (Ok(ClientMessage::Ready { .. }), Some(f)) => {
                        self.control(f.ready_ack(clock::now_ms()));
                        *ready = true;
                    }
                    (Ok(ClientMessage::Ping { .. }), Some(f)) => {
                        self.control(f.pong(clock::now_ms()))
                    }
                    _ => {}
                },
                Incoming::Ping(payload) => self.viewer.send_control(encode(OP_PONG, &payload)),
                Incoming::Pong | Incoming::Binary => {}
                // Echo the close (RFC 6455 §5.5.1); ours, if sent, is
                // the last word and the client has answered it.
                Incoming::Close(code) => {
                    self.done_reading = true;
                    if self.closing {
                        return false;
                    }
                    self.close(code.unwrap_or(CLOSE_NORMAL), "");
                }
            }
        }
        loop {
            match self.viewer.flush() {
                Err(_) => return false,
                Ok(f) if f.drained => {
                    if self.closing && self.done_reading {
                        return false;
                    }
                    if f.finished && !self.closing {
                        self.close(end.0, end.1);
                        continue;
                    }
                    break;
                }
                Ok(_) => match self.viewer.socket().map(|s| s.poll_write_ready(cx)) {
                    Some(Poll::Pending) => break,
                    None | Some(Poll::Ready(Err(_))) => return false,
                    Some(Poll::Ready(Ok(()))) => {}
                },
            }
        }
        if now < self.wake {
            return true;
        }
        if self.closing || self.awaiting_pong {
            if !self.closing {
                tracing::debug!(
                    job_id = factory.map(|f| f.job_id()),
                    "closing a socket that stopped answering pings"
                );
            }
            return false;
        }
        if self.heard {
            self.wake = now + timing.ping_interval;
        } else {
            self.viewer.send_control(encode(OP_PING, b""));
            self.awaiting_pong = true;
            self.wake = now + timing.pong_timeout;
        }
        self.heard = false;
        true
    }

    /// Reads what has arrived without waiting; `Ok(false)` at end of stream.
    /// The buffer lives only for the call, so an idle socket holds none.
    fn read_now(
        &mut self,
        out: &mut Vec<Incoming>,
        max_message: usize,
    ) -> Result<bool, super::codec::Violation> {
        let mut buf = [0u8; READ_CHUNK];
        loop {
            let Some(socket) = self.viewer.socket() else {
                return Ok(false);
            };
            match socket.try_read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => self.feed(&buf[..n], out, max_message)?,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(true),
                Err(_) => return Ok(false),
            }
        }
    }

    /// Decodes what arrived; the decoder is kept only while it holds part
    /// of a frame or of a fragmented message.
    fn feed(
        &mut self,
        data: &[u8],
        out: &mut Vec<Incoming>,
        max_message: usize,
    ) -> Result<(), super::codec::Violation> {
        let mut decoder = self
            .decoder
            .take()
            .map_or_else(|| Decoder::new(max_message), |d| *d);
        decoder.feed(data, out)?;
        if !decoder.is_idle() {
            self.decoder = Some(Box::new(decoder));
        }
        Ok(())
    }
}
