//! Admitting a viewer: its socket joins the job's with every event after
//! its `lastSeq` queued ahead of the live ones, from the in-memory tail or,
//! for an older `lastSeq`, from the log.

use super::{Follow, Owner, SubscribeError, Subscription, SEQ_RESERVE};
use crate::hub::{Connection, Frame, FrameKind};
use crate::job::replay_from_store;
use std::sync::Arc;

impl Owner {
    /// Takes a multiplexed socket's relay; `true` if it was taken (the job
    /// may then start: a subscription is its client's `ready`).
    pub(super) async fn follow(&mut self, f: Follow) -> bool {
        let Follow {
            relay,
            last_seq,
            reply,
        } = f;
        let frames = match self.owed(last_seq).await {
            Ok(frames) => frames,
            Err(e) => {
                let _ = reply.send(Err(e));
                return false;
            }
        };
        self.note_terminal(&frames);
        relay.push_replay(frames);
        if self.state.status.is_terminal() {
            relay.finish();
        } else {
            self.sockets.add_relay(relay);
        }
        let _ = reply.send(Ok(()));
        true
    }

    /// A terminal event among those a viewer is sent waits for its ack.
    fn note_terminal(&self, frames: &[Arc<Frame>]) {
        if let Some(seq) = frames
            .iter()
            .find(|f| f.kind == FrameKind::Terminal)
            .and_then(|f| f.seq)
        {
            self.deps.acks.terminal_sent(&self.state.job_id, seq);
        }
    }

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
        let frames = match self.owed(last_seq).await {
            Ok(f) => f,
            Err(e) => return Err((e, conn)),
        };
        self.note_terminal(&frames);
        conn.viewer.push_replay(frames);
        if self.state.status.is_terminal() {
            conn.viewer.finish();
        }
        self.sockets.add(conn);
        Ok(())
    }

    /// What a new viewer is owed after `last_seq`, if the job has room.
    async fn owed(&mut self, last_seq: u64) -> Result<Vec<Arc<Frame>>, SubscribeError> {
        let max = self.deps.limits.max_viewers_per_job;
        if self.sockets.len() >= max {
            return Err(SubscribeError::Full(max));
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
        let frames = replay_from_store(
            self.deps.store.as_ref(),
            &self.state,
            last_seq,
            self.deps.limits.event_retention,
            self.ring.make_contiguous(),
        )
        .await
        .map_err(SubscribeError::Store)?;
        crate::job::count_resume(&self.deps.metrics, last_seq, &frames);
        Ok(frames)
    }
}
