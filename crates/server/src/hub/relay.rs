//! A job's events on their way to a socket that another task drives: a
//! multiplexed socket (`ws::mux`) follows many jobs, so no one job's owner
//! can drive it. The owner pushes into the relay as it pushes to its own
//! viewers, never waiting; the socket's task takes from every relay it
//! holds when its socket has room.
//!
//! The same bound as a viewer's queue (`hub::viewer`), kept per job: once
//! full, a new progress frame replaces the newest waiting progress frame of
//! this job, so one job's burst costs the socket nothing but its newest
//! state, and terminal frames are always kept. Replays bypass the bound, as
//! they do for a viewer (bounded by the event retention).

use super::frame::{Frame, FrameKind};
use super::metrics::HubMetrics;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

#[derive(Default)]
struct Queue {
    frames: VecDeque<Arc<Frame>>,
    /// The job has sent everything it will (its terminal event is queued).
    finished: bool,
    /// The socket's side has let go: the owner drops the relay.
    dropped: bool,
}

struct Shared {
    q: Mutex<Queue>,
    /// The socket task's, shared by every relay it holds.
    wake: Arc<Notify>,
    capacity: usize,
    metrics: Arc<HubMetrics>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.q.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The owner's end.
pub struct RelayTx(Arc<Shared>);

/// The socket task's end; dropping it lets the owner drop the relay.
pub struct RelayRx(Arc<Shared>);

/// A relay whose socket task wakes on `wake`.
pub fn relay(wake: Arc<Notify>, capacity: usize, metrics: Arc<HubMetrics>) -> (RelayTx, RelayRx) {
    let shared = Arc::new(Shared {
        q: Mutex::new(Queue::default()),
        wake,
        capacity: capacity.max(1),
        metrics,
    });
    (RelayTx(shared.clone()), RelayRx(shared))
}

impl RelayTx {
    /// A live frame; `false` once the socket's side has let go.
    pub fn push(&self, frame: &Arc<Frame>) -> bool {
        {
            let mut q = self.0.lock();
            if q.dropped {
                return false;
            }
            if frame.kind == FrameKind::Terminal {
                q.finished = true;
            }
            let full = q.frames.len() >= self.0.capacity;
            match q.frames.back_mut() {
                Some(last)
                    if full
                        && frame.kind == FrameKind::Progress
                        && last.kind == FrameKind::Progress =>
                {
                    *last = frame.clone();
                    self.0.metrics.events_coalesced.inc();
                }
                _ => q.frames.push_back(frame.clone()),
            }
        }
        self.0.wake.notify_one();
        true
    }

    /// The frames a new subscription is owed, ahead of the live ones.
    pub fn push_replay(&self, frames: Vec<Arc<Frame>>) {
        {
            let mut q = self.0.lock();
            if frames.iter().any(|f| f.kind == FrameKind::Terminal) {
                q.finished = true;
            }
            q.frames.extend(frames);
        }
        self.0.wake.notify_one();
    }

    /// Nothing more will come.
    pub fn finish(&self) {
        self.0.lock().finished = true;
        self.0.wake.notify_one();
    }
}

impl RelayRx {
    /// Moves up to `max` waiting frames into `out`; `true` once the job
    /// has sent everything and all of it has been taken.
    pub fn take(&self, max: usize, out: &mut Vec<Arc<Frame>>) -> bool {
        let mut q = self.0.lock();
        let n = q.frames.len().min(max);
        out.extend(q.frames.drain(..n));
        if q.frames.is_empty() && q.frames.capacity() > 8 {
            q.frames = VecDeque::new();
        }
        q.finished && q.frames.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.0.lock().frames.is_empty()
    }
}

impl Drop for RelayRx {
    fn drop(&mut self) {
        let mut q = self.0.lock();
        q.dropped = true;
        q.frames.clear();
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
    fn a_full_relay_keeps_the_newest_progress_and_the_terminal() {
        let (tx, rx) = relay(Arc::new(Notify::new()), 2, Arc::default());
        let f = MessageFactory::new("j", Pipeline::CsvImport);
        tx.push(&Frame::from_envelope(&f.job_started(1, 0, 9)));
        for seq in 2..=9 {
            assert!(tx.push(&progress(&f, seq)));
        }
        tx.push(&Frame::from_envelope(&f.complete(
            10,
            0,
            9,
            9,
            0,
            Default::default(),
        )));
        let mut out = Vec::new();
        assert!(rx.take(100, &mut out));
        let seqs: Vec<_> = out.iter().map(|f| f.seq.unwrap()).collect();
        assert_eq!(seqs, vec![1, 9, 10]);
    }

    #[test]
    fn the_owner_learns_the_socket_let_go() {
        let (tx, rx) = relay(Arc::new(Notify::new()), 2, Arc::default());
        let f = MessageFactory::new("j", Pipeline::CsvImport);
        assert!(tx.push(&progress(&f, 1)));
        drop(rx);
        assert!(!tx.push(&progress(&f, 2)));
    }
}
