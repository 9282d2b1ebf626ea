//! What a (re)connecting viewer is owed: every retained event after its
//! `lastSeq`, in order, preceded by a `job_state` snapshot when retention no
//! longer covers the gap, so a client is never silently behind.

use crate::clock;
use crate::hub::Frame;
use crate::metrics::{Metrics, ResumeOutcome};
use crate::store::{JobStore, StoreResult};
use bookstrack_protocol::{JobState, MessageFactory};
use std::sync::Arc;

/// `cached` is the owner's in-memory tail of the log (contiguous, oldest
/// first); a resume it covers needs no read at all.
pub async fn replay_from_store(
    store: &dyn JobStore,
    state: &JobState,
    last_seq: u64,
    retention: u64,
    cached: &[Arc<Frame>],
) -> StoreResult<Vec<Arc<Frame>>> {
    let factory = MessageFactory::new(state.job_id.clone(), state.pipeline);
    let snapshot = || Frame::from_envelope(&factory.job_state(clock::now_ms(), state.clone()));
    let current = state
        .last_seq
        .max(cached.last().and_then(|f| f.seq).unwrap_or(0));
    if last_seq > current {
        // The client claims events this job never produced: resync it.
        return Ok(vec![snapshot()]);
    }
    if last_seq == current {
        return Ok(Vec::new());
    }
    let first_cached = cached.first().and_then(|f| f.seq);
    if first_cached.is_some_and(|first| first <= last_seq + 1) {
        return Ok(cached
            .iter()
            .filter(|f| f.seq.is_some_and(|s| s > last_seq))
            .cloned()
            .collect());
    }
    // The log is trimmed in steps (`TRIM_EVERY`), so it may still hold
    // events older than the window; the window is what a client is owed.
    let from = last_seq.max(current.saturating_sub(retention.max(1)));
    let stored = store
        .events_after(&state.job_id, from, retention.max(1))
        .await?;
    let mut out: Vec<Arc<Frame>> = Vec::with_capacity(stored.len() + cached.len() + 1);
    let first_available = stored.first().map(|e| e.seq).or(first_cached);
    if first_available.is_none_or(|first| first > last_seq + 1) {
        out.push(snapshot());
    }
    let mut last = from;
    for e in stored {
        if let Some(f) = Frame::from_stored(e.json) {
            last = e.seq;
            out.push(f);
        }
    }
    out.extend(
        cached
            .iter()
            .filter(|f| f.seq.is_some_and(|s| s > last))
            .cloned(),
    );
    Ok(out)
}

/// Counts a resume (a viewer that came with a `lastSeq`) by what it was owed.
pub fn count_resume(metrics: &Metrics, last_seq: u64, frames: &[Arc<Frame>]) {
    if last_seq == 0 {
        return;
    }
    let outcome = match frames.first() {
        None => ResumeOutcome::UpToDate,
        Some(f) if f.seq.is_none() => ResumeOutcome::SnapshotNeeded,
        Some(_) => ResumeOutcome::Replayed,
    };
    metrics.resumed(outcome);
}
