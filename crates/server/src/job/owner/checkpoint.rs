//! Checkpoints: the owner's state, output and progress events, written in
//! one transaction behind the sends, with the seq reservation they make
//! durable.

use super::Owner;
use crate::metrics::Metrics;
use crate::store::{Checkpoint, StoredEvent};
use tokio::time::Instant;

impl Owner {
    /// Waits for the checkpoint in flight, if any, and takes its reservation.
    pub(super) async fn settle(&mut self) {
        let Some((write, reserved)) = self.in_flight.take() else {
            return;
        };
        match write.await {
            Ok(Ok(())) => {
                self.seq_reserved = reserved;
                Metrics::inc(&self.deps.metrics.state_writes);
            }
            Ok(Err(e)) => {
                tracing::error!(job_id = %self.state.job_id, error = %e, "could not persist job state");
            }
            Err(e) => {
                tracing::error!(job_id = %self.state.job_id, error = %e, "checkpoint task failed");
            }
        }
    }

    /// Starts writing the state with the output and progress events since
    /// the last checkpoint, plus `terminal` events, in one transaction,
    /// reserving `reserve` seqs ahead (none when this process will send no
    /// more). It is not waited for: progress goes on being sent meanwhile,
    /// inside the reservation already durable. The previous checkpoint is
    /// waited for first, so that they land in order.
    pub(super) async fn checkpoint(&mut self, terminal: Vec<StoredEvent>, reserve: u64) {
        self.settle().await;
        self.state.version += 1;
        let mut events = std::mem::take(&mut self.pending_events);
        events.extend(terminal);
        let seq_reserved = self.state.last_seq + reserve;
        let cp = Checkpoint {
            state: Some(self.state.clone()),
            cursor: self.cursor,
            items: std::mem::take(&mut self.pending_items),
            errors: std::mem::take(&mut self.pending_errors),
            events,
            retain: self.deps.limits.event_retention,
            seq_reserved,
            keys: Vec::new(),
        };
        let (store, id) = (self.deps.store.clone(), self.state.job_id.clone());
        let write = self
            .deps
            .tracker
            .spawn(async move { store.checkpoint(&id, cp).await });
        self.in_flight = Some((write, seq_reserved));
        self.updates_since_persist = 0;
        self.last_persist = Instant::now();
    }

    /// A checkpoint that has landed when this returns.
    pub(super) async fn persist(&mut self, terminal: Vec<StoredEvent>, reserve: u64) {
        self.checkpoint(terminal, reserve).await;
        self.settle().await;
    }
}
