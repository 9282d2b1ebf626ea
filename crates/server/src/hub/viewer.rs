//! One connected viewer: its socket and what is waiting to go out on it.
//!
//! The job owner writes each event straight to the viewer's socket with a
//! non-blocking write from its own task, so an event costs one `send` and
//! no wakeup of another task. Only what the kernel does not take at once
//! waits here, written when the socket drains (`hub::driver`); the owner
//! never waits on a socket, so a slow viewer cannot slow its job.
//! The wait is bounded: once full, a new progress frame replaces the newest
//! waiting progress frame (newest wins); terminal and other frames are
//! always kept, and there are few of them.

use super::frame::{Frame, FrameKind, Wire};
use super::metrics::HubMetrics;
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::Arc;
use tokio::net::TcpStream;

/// Most waiting frames written by one `writev` when a socket drains.
const MAX_IOVECS: usize = 64;

enum Out {
    /// An event as it is published: its write time is measured.
    Live(Arc<Frame>),
    /// An event from before the viewer came, replayed for its resume.
    Replay(Arc<Frame>),
    /// A frame of the socket's own (pong, ping, close), already framed.
    Control(Bytes),
}

impl Out {
    fn bytes(&self, wire: Wire) -> &[u8] {
        match self {
            Out::Live(f) | Out::Replay(f) => f.wire(wire),
            Out::Control(b) => b,
        }
    }

    fn is_progress(&self) -> bool {
        matches!(self, Out::Live(f) | Out::Replay(f) if f.kind == FrameKind::Progress)
    }

    fn is_terminal(&self) -> bool {
        matches!(self, Out::Live(f) | Out::Replay(f) if f.kind == FrameKind::Terminal)
    }
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Out>,
    /// Bytes of the front frame the kernel has already taken.
    written: usize,
    /// Frames of the socket's own (`Out::Control`) waiting: replies the
    /// client has not taken (`hub::conn` bounds them).
    controls: usize,
    closed: bool,
    /// A close frame is queued or sent: nothing may follow it on the wire.
    sealed: bool,
    /// Set once the viewer has been given everything it will ever get.
    finished: bool,
    /// `None` once closed, which closes the connection; always `None` in
    /// tests, where every frame waits here.
    socket: Option<TcpStream>,
}

impl Queue {
    fn close(&mut self) {
        self.closed = true;
        self.waiting.clear();
        self.controls = 0;
        self.socket = None;
    }
}

/// A write that never waits; the bytes the kernel took.
fn write_now(socket: Option<&TcpStream>, bytes: &[u8]) -> io::Result<usize> {
    let Some(socket) = socket else {
        return Ok(0);
    };
    match socket.try_write(bytes) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        r => r,
    }
}

/// What a flush left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Nothing is waiting any more.
    pub drained: bool,
    /// The viewer will get nothing more: close once drained.
    pub finished: bool,
}

/// Held by value in its socket's entry (`hub::conn`), by the one task that
/// drives that socket: no `Arc`, no lock, and the stream itself inline, so
/// that an idle socket costs one small allocation here.
pub struct Viewer {
    pub wire: Wire,
    /// Event frames written whole, for the per-socket histogram.
    sent: u32,
    /// The highest seq handed to this viewer: a client may acknowledge up
    /// to here and no further (docs/PROTOCOL.md §22).
    max_seq: u64,
    capacity: usize,
    q: Queue,
    metrics: Arc<HubMetrics>,
}

impl Viewer {
    pub fn new(wire: impl Into<Wire>, capacity: usize, metrics: Arc<HubMetrics>) -> Viewer {
        Self::build(wire.into(), capacity, metrics, None)
    }

    pub fn with_socket(
        wire: impl Into<Wire>,
        capacity: usize,
        metrics: Arc<HubMetrics>,
        socket: TcpStream,
    ) -> Viewer {
        Self::build(wire.into(), capacity, metrics, Some(socket))
    }

    fn build(
        wire: Wire,
        capacity: usize,
        metrics: Arc<HubMetrics>,
        socket: Option<TcpStream>,
    ) -> Viewer {
        Viewer {
            wire,
            sent: 0,
            max_seq: 0,
            capacity: capacity.max(1),
            q: Queue {
                socket,
                ..Queue::default()
            },
            metrics,
        }
    }

    pub fn metrics(&self) -> &Arc<HubMetrics> {
        &self.metrics
    }

    /// Event frames written whole to this viewer's socket so far.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    fn wrote_event(&mut self, live: Option<&Frame>) {
        self.sent = self.sent.saturating_add(1);
        self.metrics.events_sent.inc();
        if let Some(f) = live {
            self.metrics.publish_to_write.observe(f.built.elapsed());
        }
    }

    /// The stream, for reading and readiness; `None` once closed.
    pub fn socket(&self) -> Option<&TcpStream> {
        self.q.socket.as_ref()
    }

    /// The highest seq this viewer has been handed.
    pub fn max_seq(&self) -> u64 {
        self.max_seq
    }

    fn note_seq(&mut self, frame: &Frame) {
        self.max_seq = self.max_seq.max(frame.seq.unwrap_or(0));
    }

    /// A live frame; `false` once the viewer has gone away.
    pub fn push(&mut self, frame: Arc<Frame>) -> bool {
        if self.q.closed || self.q.sealed {
            return false;
        }
        self.note_seq(&frame);
        let q = &mut self.q;
        if frame.kind == FrameKind::Terminal {
            q.finished = true;
        }
        if q.waiting.is_empty() {
            let wire = frame.wire(self.wire);
            match write_now(q.socket.as_ref(), wire) {
                Ok(n) if n == wire.len() => {
                    self.wrote_event(Some(&frame));
                    return true;
                }
                Ok(n) => q.written = n,
                Err(_) => {
                    q.close();
                    return false;
                }
            }
        } else if q.waiting.len() >= self.capacity && frame.kind == FrameKind::Progress {
            // The front frame may be half written: never replace that one.
            let back_is_whole = q.waiting.len() > 1 || q.written == 0;
            if let Some(last) = q
                .waiting
                .back_mut()
                .filter(|l| l.is_progress() && back_is_whole)
            {
                *last = Out::Live(frame);
                self.metrics.events_coalesced.inc();
                return true;
            }
        }
        q.waiting.push_back(Out::Live(frame));
        true
    }

    /// A frame of the socket's own, kept in order with the events.
    pub fn send_control(&mut self, frame: Bytes) {
        self.enqueue([Out::Control(frame)], false);
    }

    /// The close frame: the last frame this viewer sends, whatever the
    /// owner pushes after it (RFC 6455 §5.5.1).
    pub fn send_close(&mut self, frame: Bytes) {
        self.send_control(frame);
        self.q.sealed = true;
    }

    /// Replayed frames bypass the bound: a resume must be gap-free, and the
    /// replay is itself bounded by the event retention.
    pub fn push_replay(&mut self, frames: impl IntoIterator<Item = Arc<Frame>>) {
        self.enqueue(frames.into_iter().map(Out::Replay), true);
    }

    /// Live frames of several jobs (a multiplexed socket, `ws::mux`), kept
    /// whole: the caller bounds what it hands over, and coalesces per job
    /// before it does (`hub::relay`). One job's terminal event does not
    /// finish the socket: the others go on.
    pub fn push_relayed(&mut self, frames: impl IntoIterator<Item = Arc<Frame>>) {
        self.enqueue(frames.into_iter().map(Out::Live), false);
    }

    fn enqueue(&mut self, items: impl IntoIterator<Item = Out>, terminal_finishes: bool) {
        if self.q.closed || self.q.sealed {
            return;
        }
        for item in items {
            if let Out::Live(f) | Out::Replay(f) = &item {
                self.max_seq = self.max_seq.max(f.seq.unwrap_or(0));
            }
            if terminal_finishes && item.is_terminal() {
                self.q.finished = true;
            }
            if matches!(item, Out::Control(_)) {
                self.q.controls += 1;
            }
            self.q.waiting.push_back(item);
        }
        let _ = self.flush();
    }

    /// Nothing more will come: close once the queue is drained.
    pub fn finish(&mut self) {
        self.q.finished = true;
    }

    /// Writes what is waiting, as far as the socket takes it.
    pub fn flush(&mut self) -> io::Result<Flushed> {
        loop {
            let q = &mut self.q;
            let Some(socket) = q.socket.as_ref().filter(|_| !q.waiting.is_empty()) else {
                break;
            };
            let mut slices = Vec::with_capacity(q.waiting.len().min(MAX_IOVECS));
            for (i, out) in q.waiting.iter().take(MAX_IOVECS).enumerate() {
                let bytes = out.bytes(self.wire);
                slices.push(IoSlice::new(if i == 0 {
                    &bytes[q.written..]
                } else {
                    bytes
                }));
            }
            match socket.try_write_vectored(&slices) {
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    q.close();
                    return Err(e);
                }
            }
        }
        let q = &mut self.q;
        if q.waiting.is_empty() && q.waiting.capacity() > 0 {
            // An idle socket holds no queue (a `ready_ack` allocates one).
            q.waiting = VecDeque::new();
        }
        Ok(Flushed {
            drained: q.waiting.is_empty(),
            finished: q.finished,
        })
    }

    /// Drops from the queue the `n` bytes the kernel took.
    fn advance(&mut self, mut n: usize) {
        while let Some(front) = self.q.waiting.front() {
            let left = front.bytes(self.wire).len() - self.q.written;
            if n < left {
                self.q.written += n;
                return;
            }
            n -= left;
            self.q.written = 0;
            match self.q.waiting.pop_front() {
                Some(Out::Live(f)) => self.wrote_event(Some(&f)),
                Some(Out::Replay(_)) => self.wrote_event(None),
                Some(Out::Control(_)) => self.q.controls -= 1,
                None => {}
            }
        }
    }

    /// Moves the waiting frames into `out`; returns whether the viewer is
    /// finished once these are written.
    #[cfg(test)]
    fn drain_into(&mut self, out: &mut Vec<Arc<Frame>>) -> bool {
        self.q.controls = 0;
        out.extend(self.q.waiting.drain(..).filter_map(|o| match o {
            Out::Live(f) | Out::Replay(f) => Some(f),
            Out::Control(_) => None,
        }));
        self.q.finished
    }

    pub fn close(&mut self) {
        self.q.close();
    }

    pub fn queued(&self) -> usize {
        self.q.waiting.len()
    }

    /// Frames of the socket's own (pongs, `ready_ack`, notices, pings)
    /// waiting for the client to read them.
    pub fn unread_replies(&self) -> usize {
        self.q.controls
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Protocol;
    use bookstrack_protocol::{MessageFactory, Pipeline, ProgressUpdate};

    fn progress(f: &MessageFactory, seq: u64) -> Arc<Frame> {
        Frame::from_envelope(&f.progress(
            seq,
            0,
            ProgressUpdate {
                progress: 0.1,
                status: "x".into(),
                books_processed: None,
                total_books: None,
                current_title: None,
            },
        ))
    }

    #[test]
    fn full_queue_coalesces_progress_and_keeps_terminal() {
        let m = Arc::new(HubMetrics::default());
        let mut v = Viewer::new(Protocol::V2, 3, m.clone());
        let f = MessageFactory::new("j", Pipeline::CsvImport);
        v.push(Frame::from_envelope(&f.job_started(1, 0, 10)));
        for seq in 2..=10 {
            assert!(v.push(progress(&f, seq)));
        }
        assert_eq!(v.queued(), 3);
        v.push(Frame::from_envelope(&f.complete(
            11,
            0,
            10,
            10,
            0,
            Default::default(),
        )));
        let mut out = Vec::new();
        let finished = v.drain_into(&mut out);
        let seqs: Vec<_> = out.iter().map(|f| f.seq.unwrap()).collect();
        assert_eq!(
            seqs,
            vec![1, 2, 10, 11],
            "newest progress wins, terminal kept"
        );
        assert!(finished);
        assert_eq!(m.events_coalesced.get(), 7);
    }

    #[test]
    fn nothing_follows_the_close_frame() {
        let mut v = Viewer::new(Protocol::V2, 3, Arc::new(HubMetrics::default()));
        let f = MessageFactory::new("j", Pipeline::CsvImport);
        assert!(v.push(progress(&f, 1)));
        v.send_close(Bytes::from_static(b"close"));
        assert!(!v.push(progress(&f, 2)), "the owner drops a closing viewer");
        v.send_control(Bytes::from_static(b"pong"));
        v.push_replay([progress(&f, 3)]);
        assert_eq!(v.queued(), 2, "the event before the close, and the close");
    }

    #[test]
    fn closed_viewer_refuses_frames() {
        let mut v = Viewer::new(Protocol::V2, 3, Arc::new(HubMetrics::default()));
        v.close();
        let f = MessageFactory::new("j", Pipeline::CsvImport);
        assert!(!v.push(progress(&f, 1)));
    }
}
