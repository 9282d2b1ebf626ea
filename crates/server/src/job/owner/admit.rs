//! Admitting a viewer: its socket joins the job's with every event after
//! its `lastSeq` queued ahead of the live ones, from the in-memory tail or,
//! for an older `lastSeq`, from the log.

use super::{Owner, SubscribeError, Subscription, SEQ_RESERVE};
use crate::hub::Connection;
use crate::job::replay_from_store;

impl Owner {
    /// Takes a new viewer's socket, or hands it back with the reason.
    pub(super) async fn subscribe(&mut self, sub: Subscription) {
        let Subscription {
            conn,
            last_seq,
            reply,
        } = sub;
        let _ = reply.send(self.attach(conn, last_seq).await);
    }

    async fn attach(
        &mut self,
        mut conn: Connection,
        last_seq: u64,
    ) -> Result<(), (SubscribeError, Connection)> {
        let max = self.deps.limits.max_viewers_per_job;
        if self.sockets.len() >= max {
            return Err((SubscribeError::Full(max), conn));
        }
        // A resume from before the in-memory tail reads the log, which
        // must then hold every event sent: the checkpoint in flight landed,
        // and those not yet checkpointed written.
        let first_cached = self.ring.front().and_then(|f| f.seq);
        if first_cached.is_none_or(|f| f > last_seq + 1) {
            self.settle().await;
            if !self.pending_events.is_empty() {
                self.persist(Vec::new(), SEQ_RESERVE).await;
            }
        }
        let frames = match replay_from_store(
            self.deps.store.as_ref(),
            &self.state,
            last_seq,
            self.deps.limits.event_retention,
            self.ring.make_contiguous(),
        )
        .await
        {
            Ok(f) => f,
            Err(e) => return Err((SubscribeError::Store(e), conn)),
        };
        crate::job::count_resume(&self.deps.metrics, last_seq, &frames);
        conn.viewer.push_replay(frames);
        if self.state.status.is_terminal() {
            conn.viewer.finish();
        }
        self.sockets.add(conn);
        Ok(())
    }
}
