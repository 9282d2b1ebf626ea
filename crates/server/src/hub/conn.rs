//! One socket as `Sockets` drives it: each poll reads what the client sent,
//! answers it, writes out what is waiting, and keeps the ping and close
//! deadlines.

use super::codec::{
    encode, encode_close, CloseCode, Decoder, Incoming, Violation, OP_PING, OP_PONG, OP_TEXT,
};
use super::driver::{Connection, Timing, CLOSE_GRACE};
use super::frame::Protocol;
use super::slots::Slot;
use super::viewer::Viewer;
use super::{AckSink, CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_TOKEN_EXPIRED};
use crate::clock;
use bookstrack_protocol::{ClientMessage, Envelope, MessageFactory, V1Message};
use std::task::{Context, Poll};
use tokio::time::Instant;

/// Bytes read from a socket at a time, into a buffer that lives only for
/// the read: clients send only small messages (`ready`, `ping`).
const READ_CHUNK: usize = 1024;
/// Bytes read from one socket per poll: a client that sends without pause
/// cannot hold the task that drives its job's other sockets (or a
/// multiplexed socket's task) beyond this; the rest is read on the next
/// turn, after the others.
pub const READ_BUDGET: usize = 64 * 1024;
/// Messages decoded from one socket per poll, whatever their size: each
/// may cost an answer, so a flood of tiny `ping`s is cut into turns by
/// count as well as by bytes (`hub::fair_tests`).
pub const READ_MESSAGES: usize = 256;

/// The reason of the 1008 close for a client that leaves its replies unread.
pub const CLOSE_UNREAD_REASON: &str = "too many replies left unread";

/// What every socket of a job is polled with in one turn.
#[derive(Clone, Copy)]
pub(super) struct Turn<'a> {
    pub now: Instant,
    /// The job's messages, for `ready_ack` and `pong`; `None` for a socket
    /// refused before it knew its job, which answers nothing.
    pub factory: Option<&'a MessageFactory>,
    pub timing: Timing,
    /// The close a viewer gets once it has been sent everything.
    pub end: (CloseCode, &'static str),
    /// Where a client's `ack` goes; `None` where nothing keeps them.
    pub acks: Option<&'a dyn AckSink>,
}

/// Who answers a socket's data messages.
pub(super) enum Answer<'a> {
    /// The job's own socket: `ready`, `ping` and `ack`, answered here.
    Job(&'a mut bool),
    /// Handed to the caller, which answers them (`ws::mux`).
    Collect(&'a mut Vec<Incoming>),
}

/// One socket's entry, kept small: most sockets are idle, and one holds
/// its decoder only between the pieces of a message, its early messages
/// only until its first poll.
pub(super) struct Conn {
    pub viewer: Viewer,
    decoder: Option<Box<Decoder>>,
    /// Messages decoded from the upgrade's early bytes, not answered yet.
    early: Box<[Incoming]>,
    /// When `Sockets` took the socket, for the lifetime histogram.
    opened: std::time::Instant,
    /// When the client last sent anything: a ping goes out once it has
    /// been silent for the ping interval (docs/PROTOCOL.md §11).
    heard: Instant,
    /// The next ping tick, or the pong deadline while a ping is out, or the
    /// close deadline once closing.
    wake: Instant,
    /// When the token the socket was opened with expires: the socket is
    /// then closed with 4001 (docs/PROTOCOL.md §14).
    expires: Option<Instant>,
    /// Counts the socket against `--max-sockets` and its client's limit.
    _slot: Option<Slot>,
    awaiting_pong: bool,
    /// Our close frame is queued; `wake` is then the last moment to wait.
    closing: bool,
    /// The client closed or broke the protocol: nothing more to read.
    done_reading: bool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.viewer.close();
        let m = self.viewer.metrics();
        m.open_sockets.dec();
        m.socket_lifetime
            .observe(self.opened.elapsed().as_secs_f64());
        m.socket_messages.observe(f64::from(self.viewer.sent()));
    }
}

impl Conn {
    /// Takes a socket with the bytes its client sent behind the upgrade.
    pub fn new(c: Connection, timing: Timing) -> Conn {
        let Connection {
            viewer,
            early,
            expires,
            slot,
        } = c;
        let early = &early[..];
        viewer.metrics().open_sockets.inc();
        let now = Instant::now();
        let mut conn = Conn {
            viewer,
            decoder: None,
            early: Box::default(),
            opened: std::time::Instant::now(),
            heard: now,
            wake: now + timing.ping_interval,
            expires,
            _slot: slot,
            awaiting_pong: false,
            closing: false,
            done_reading: false,
        };
        let mut decoded = Vec::new();
        if let Err(v) = conn.feed(early, &mut decoded, timing.max_message) {
            conn.close(v.code, v.reason);
        }
        conn.early = decoded.into_boxed_slice();
        conn
    }

    pub fn close(&mut self, code: CloseCode, reason: &str) {
        if !self.closing {
            self.viewer.send_close(encode_close(code, reason));
            self.closing = true;
            self.wake = Instant::now() + CLOSE_GRACE;
        }
    }

    /// Queues a reply to the client, unless it has left
    /// `--max-unread-replies` of them unread: then the socket is closed
    /// with 1008 and nothing more is answered, so a client that asks
    /// without reading cannot grow the server's memory.
    pub fn reply(&mut self, frame: bytes::Bytes, turn: &Turn<'_>) {
        if self.closing {
            return;
        }
        if self.viewer.unread_replies() >= turn.timing.max_unread_replies {
            // Reading goes on, answering nothing: the client's input is
            // drained, so that closing does not reset the connection
            // under the close frame.
            self.close(CloseCode::Policy, CLOSE_UNREAD_REASON);
            return;
        }
        self.viewer.send_control(frame);
    }

    fn control(&mut self, env: Envelope, turn: &Turn<'_>) {
        let wire = self.viewer.wire;
        let frame = match (wire.msgpack, wire.protocol) {
            (true, _) => wire.control(&env),
            (false, Protocol::V2) => encode(OP_TEXT, env.to_json().as_bytes()),
            (false, Protocol::V1) => {
                encode(OP_TEXT, V1Message::from_envelope(&env).to_json().as_bytes())
            }
        };
        self.reply(frame, turn);
    }

    /// Reads, answers, writes and keeps time; `false` once the socket is
    /// done with.
    pub fn poll(&mut self, cx: &mut Context<'_>, turn: &Turn<'_>, answer: Answer<'_>) -> bool {
        let Some(incoming) = self.read(cx, turn.timing.max_message) else {
            return false;
        };
        self.answer(incoming, turn, answer) && self.write(cx, turn.end) && self.keep_time(turn)
    }

    /// The next moment this socket must act (a ping, a pong or close
    /// deadline, its token's expiry).
    pub fn wake(&self) -> Instant {
        match self.expires {
            Some(e) if !self.closing => self.wake.min(e),
            _ => self.wake,
        }
    }

    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// What the client sent since the last poll (the early messages first);
    /// `None` once the connection has gone.
    fn read(&mut self, cx: &mut Context<'_>, max_message: usize) -> Option<Vec<Incoming>> {
        let mut incoming = std::mem::take(&mut self.early).into_vec();
        while !self.done_reading {
            let socket = self.viewer.socket()?;
            match socket.poll_read_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(Err(_)) => return None,
                Poll::Ready(Ok(())) => match self.read_now(&mut incoming, max_message) {
                    Ok(Some(true)) => {}
                    Ok(Some(false)) => {
                        // The budget is spent: come back after the others.
                        cx.waker().wake_by_ref();
                        break;
                    }
                    // End of stream: the client has gone.
                    Ok(None) => return None,
                    Err(v) => {
                        self.done_reading = true;
                        self.close(v.code, v.reason);
                    }
                },
            }
        }
        Some(incoming)
    }

    /// Answers each message; `false` once the closing handshake is done.
    fn answer(&mut self, incoming: Vec<Incoming>, turn: &Turn<'_>, mut answer: Answer<'_>) -> bool {
        for msg in incoming {
            self.heard = turn.now;
            if self.awaiting_pong {
                self.awaiting_pong = false;
                if !self.closing {
                    self.wake = turn.now + turn.timing.ping_interval;
                }
            }
            match msg {
                Incoming::Ping(payload) => self.reply(encode(OP_PONG, &payload), turn),
                Incoming::Pong => {}
                m @ (Incoming::Text(_) | Incoming::Binary(_)) => match &mut answer {
                    Answer::Collect(out) if !self.closing => out.push(m),
                    Answer::Collect(_) => {}
                    Answer::Job(ready) => {
                        if let Some(msg) = self.client_message(m) {
                            self.answer_job(msg, turn, ready);
                        }
                    }
                },
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
        true
    }

    /// A client message: JSON text, or MessagePack on a msgpack socket;
    /// anything else is not one (and is ignored, as unknown types are).
    fn client_message(&self, m: Incoming) -> Option<ClientMessage> {
        match m {
            Incoming::Text(t) => serde_json::from_str(&t).ok(),
            Incoming::Binary(b) if self.viewer.wire.msgpack => rmp_serde::from_slice(&b).ok(),
            _ => None,
        }
    }

    fn answer_job(&mut self, msg: ClientMessage, turn: &Turn<'_>, ready: &mut bool) {
        // A socket refused before it knew its job answers nothing.
        let Some(f) = turn.factory else { return };
        match msg {
            // An ack is kept even while closing: the SDK acknowledges the
            // terminal event, which the close follows at once.
            ClientMessage::Ack { seq } => self.ack(f.job_id(), seq, turn),
            // A closing socket answers nothing else.
            _ if self.closing => {}
            ClientMessage::Ready { .. } => {
                self.control(f.ready_ack(clock::now_ms()), turn);
                *ready = true;
            }
            ClientMessage::Ping { .. } => self.control(f.pong(clock::now_ms()), turn),
            ClientMessage::Unknown => {}
        }
    }

    /// Keeps an ack of a seq this socket was sent; an ack of one it was
    /// never sent breaks the protocol (1008).
    fn ack(&mut self, job_id: &str, seq: u64, turn: &Turn<'_>) {
        if seq == 0 || seq > self.viewer.max_seq() {
            self.close(CloseCode::Policy, "ack for a seq never sent");
            return;
        }
        if let Some(acks) = turn.acks {
            acks.ack(job_id, seq);
        }
    }

    /// Writes out what is waiting while the socket takes it, and starts the
    /// close once the viewer has everything; `false` once the socket is
    /// done with.
    fn write(&mut self, cx: &mut Context<'_>, end: (CloseCode, &'static str)) -> bool {
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
                    return true;
                }
                Ok(_) => match self.viewer.socket().map(|s| s.poll_write_ready(cx)) {
                    Some(Poll::Pending) => return true,
                    None | Some(Poll::Ready(Err(_))) => return false,
                    Some(Poll::Ready(Ok(()))) => {}
                },
            }
        }
    }

    /// Pings a client silent for the ping interval, closes one that does
    /// not answer within the pong timeout (1001) or whose token has expired
    /// (4001), and ends a close the client never answered; `false` once the
    /// socket is done with.
    fn keep_time(&mut self, turn: &Turn<'_>) -> bool {
        if !self.closing && self.expires.is_some_and(|e| turn.now >= e) {
            self.close(CLOSE_TOKEN_EXPIRED, "token expired");
            return true;
        }
        if turn.now < self.wake {
            return true;
        }
        if self.closing {
            return false;
        }
        if self.awaiting_pong {
            tracing::debug!(
                job_id = turn.factory.map(MessageFactory::job_id),
                "closing a socket that stopped answering pings"
            );
            self.awaiting_pong = false;
            self.close(CLOSE_GOING_AWAY, "ping timeout");
            return true;
        }
        let silent_until = self.heard + turn.timing.ping_interval;
        if turn.now < silent_until {
            self.wake = silent_until;
        } else {
            self.viewer.send_control(encode(OP_PING, b""));
            self.awaiting_pong = true;
            self.wake = turn.now + turn.timing.pong_timeout;
        }
        true
    }

    /// Reads what has arrived without waiting, up to `READ_BUDGET` bytes
    /// or `READ_MESSAGES` messages:
    /// `Some(true)` once drained, `Some(false)` with more to read, `None`
    /// at end of stream. The buffer lives only for the call, so an idle
    /// socket holds none.
    fn read_now(
        &mut self,
        out: &mut Vec<Incoming>,
        max_message: usize,
    ) -> Result<Option<bool>, Violation> {
        let mut buf = [0u8; READ_CHUNK];
        let mut read = 0;
        while read < READ_BUDGET {
            let Some(socket) = self.viewer.socket() else {
                return Ok(None);
            };
            match socket.try_read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    read += n;
                    self.feed(&buf[..n], out, max_message)?;
                    if out.len() >= READ_MESSAGES {
                        return Ok(Some(false));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(Some(true)),
                Err(_) => return Ok(None),
            }
        }
        Ok(Some(false))
    }

    /// Decodes what arrived; the decoder is kept only while it holds part
    /// of a frame or of a fragmented message.
    fn feed(
        &mut self,
        data: &[u8],
        out: &mut Vec<Incoming>,
        max_message: usize,
    ) -> Result<(), Violation> {
        let mut decoder = self.decoder.take().map_or_else(
            || Decoder::with_deflate(max_message, self.viewer.wire.deflate),
            |d| *d,
        );
        decoder.feed(data, out)?;
        if !decoder.is_idle() {
            self.decoder = Some(Box::new(decoder));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
