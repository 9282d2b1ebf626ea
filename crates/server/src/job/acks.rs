//! Client acknowledgements (docs/PROTOCOL.md §22): the highest seq acked
//! per job, kept durably, shown as the job state's `ackedSeq`, and the
//! jobs whose terminal event went out but was not acknowledged yet
//! (`/metrics` `bookstrack_terminal_unacked`).
//!
//! A socket's task hands an ack over without waiting (`AckSink`); a writer
//! task of its own gathers what arrived and raises the stored seqs in one
//! write, so a client acking every event costs one write per gathering, not
//! one per ack. Only acks of seqs a socket was sent get here (`hub::conn`,
//! `ws::mux`), so what is held is bounded by the jobs being watched.

use crate::hub::AckSink;
use crate::metrics::Metrics;
use crate::store::{JobStore, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long the writer gathers acks before writing them.
const GATHER: Duration = Duration::from_millis(50);

pub struct Acks {
    store: Arc<dyn JobStore>,
    metrics: Arc<Metrics>,
    /// Acked and not yet written: job → highest seq.
    pending: Mutex<HashMap<String, u64>>,
    /// Terminal event sent and not acked: job → its seq.
    unacked: Mutex<HashMap<String, u64>>,
    wake: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AckSink for Acks {
    fn ack(&self, job_id: &str, seq: u64) {
        Metrics::inc(&self.metrics.acks);
        {
            let mut p = lock(&self.pending);
            let e = p.entry(job_id.to_string()).or_insert(0);
            *e = (*e).max(seq);
        }
        let mut u = lock(&self.unacked);
        if u.get(job_id).is_some_and(|&t| seq >= t) {
            u.remove(job_id);
            self.metrics.terminal_unacked.set(u.len() as i64);
        }
        drop(u);
        self.wake.notify_one();
    }
}

impl Acks {
    pub fn new(store: Arc<dyn JobStore>, metrics: Arc<Metrics>) -> Arc<Acks> {
        Arc::new(Acks {
            store,
            metrics,
            pending: Mutex::default(),
            unacked: Mutex::default(),
            wake: Notify::new(),
        })
    }

    /// A job's terminal event (`seq`) went out to a viewer.
    pub fn terminal_sent(&self, job_id: &str, seq: u64) {
        if lock(&self.pending).get(job_id).is_some_and(|&a| a >= seq) {
            return;
        }
        let mut u = lock(&self.unacked);
        u.insert(job_id.to_string(), seq);
        self.metrics.terminal_unacked.set(u.len() as i64);
    }

    /// An ended job's events were replayed to a viewer (`frames_sent`):
    /// its terminal event waits for an ack unless one already covers it.
    pub fn replayed(&self, state: &bookstrack_protocol::JobState, frames_sent: bool) {
        if frames_sent && state.status.is_terminal() && state.acked_seq < Some(state.last_seq) {
            self.terminal_sent(&state.job_id, state.last_seq);
        }
    }

    /// The highest ack still being gathered (not yet in the store).
    pub fn pending(&self, job_id: &str) -> Option<u64> {
        lock(&self.pending).get(job_id).copied()
    }

    /// The job is deleted: nothing of it is kept here either.
    pub fn forget(&self, job_id: &str) {
        let mut u = lock(&self.unacked);
        if u.remove(job_id).is_some() {
            self.metrics.terminal_unacked.set(u.len() as i64);
        }
    }

    /// The highest acked seq: written, or still being gathered.
    pub async fn acked(&self, job_id: &str) -> StoreResult<Option<u64>> {
        let pending = self.pending(job_id);
        let stored = self.store.acked_seq(job_id).await?;
        Ok(pending.max(stored))
    }

    /// Writes what was gathered; on shutdown, once more after the sockets
    /// have closed, so that no ack a client sent is lost.
    pub fn spawn_writer(self: &Arc<Self>, tracker: &TaskTracker, cancel: CancellationToken) {
        let acks = self.clone();
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = acks.wake.notified() => {}
                    _ = cancel.cancelled() => break,
                }
                tokio::time::sleep(GATHER).await;
                acks.flush().await;
            }
            // Sockets close within their grace after the cancel.
            tokio::time::sleep(crate::hub::CLOSE_GRACE).await;
            acks.flush().await;
        });
    }

    pub async fn flush(&self) {
        let batch: Vec<(String, u64)> = lock(&self.pending).drain().collect();
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.store.record_acks(batch.clone()).await {
            tracing::warn!(error = %e, "could not write acks; kept for the next write");
            let mut p = lock(&self.pending);
            for (job, seq) in batch {
                let e = p.entry(job).or_insert(0);
                *e = (*e).max(seq);
            }
        }
    }
}
