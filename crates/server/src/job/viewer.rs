//! One connected viewer's outbound queue.
//!
//! The job owner pushes without ever waiting on a socket, so a slow viewer
//! cannot slow its job or any other. The queue is bounded: once full, a new
//! progress frame replaces the newest queued progress frame (newest wins);
//! terminal and other frames are always kept, and there are few of them.

use super::frame::{Frame, FrameKind, Protocol};
use crate::metrics::Metrics;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

#[derive(Default)]
struct Queue {
    frames: VecDeque<Arc<Frame>>,
    closed: bool,
    /// Set once the viewer has been given everything it will ever get.
    finished: bool,
}

pub struct Viewer {
    pub protocol: Protocol,
    capacity: usize,
    queue: Mutex<Queue>,
    notify: Notify,
    metrics: Arc<Metrics>,
}

impl Viewer {
    pub fn new(protocol: Protocol, capacity: usize, metrics: Arc<Metrics>) -> Arc<Viewer> {
        Arc::new(Viewer {
            protocol,
            capacity: capacity.max(1),
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
            metrics,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A live frame; `false` once the viewer has gone away.
    pub fn push(&self, frame: Arc<Frame>) -> bool {
        let mut q = self.lock();
        if q.closed {
            return false;
        }
        let full = q.frames.len() >= self.capacity;
        if full && frame.kind == FrameKind::Progress {
            if let Some(last) = q.frames.back_mut() {
                if last.kind == FrameKind::Progress {
                    *last = frame;
                    Metrics::inc(&self.metrics.events_coalesced);
                    drop(q);
                    self.notify.notify_one();
                    return true;
                }
            }
        }
        if frame.kind == FrameKind::Terminal {
            q.finished = true;
        }
        q.frames.push_back(frame);
        drop(q);
        self.notify.notify_one();
        true
    }

    /// Replayed frames bypass the bound: a resume must be gap-free, and the
    /// replay is itself bounded by the event retention.
    pub fn push_replay(&self, frames: impl IntoIterator<Item = Arc<Frame>>) {
        let mut q = self.lock();
        for f in frames {
            if f.kind == FrameKind::Terminal {
                q.finished = true;
            }
            q.frames.push_back(f);
        }
        drop(q);
        self.notify.notify_one();
    }

    /// Nothing more will come: close once the queue is drained.
    pub fn finish(&self) {
        self.lock().finished = true;
        self.notify.notify_one();
    }

    /// Moves the queued frames into `out`; returns whether the viewer is
    /// finished once these are written.
    pub fn drain_into(&self, out: &mut Vec<Arc<Frame>>) -> bool {
        let mut q = self.lock();
        out.extend(q.frames.drain(..));
        q.finished
    }

    pub async fn wait(&self) {
        self.notify.notified().await
    }

    pub fn close(&self) {
        let mut q = self.lock();
        q.closed = true;
        q.frames.clear();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub fn queued(&self) -> usize {
        self.lock().frames.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let m = Arc::new(Metrics::default());
        let v = Viewer::new(Protocol::V2, 3, m.clone());
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
        assert_eq!(
            m.events_coalesced
                .load(std::sync::atomic::Ordering::Relaxed),
            7
        );
    }

    #[test]
    fn closed_viewer_refuses_frames() {
        let v = Viewer::new(Protocol::V2, 3, Arc::new(Metrics::default()));
        v.close();
        let f = MessageFactory::new("j", Pipeline::CsvImport);
        assert!(!v.push(progress(&f, 1)));
    }
}
