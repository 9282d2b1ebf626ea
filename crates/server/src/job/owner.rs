//! The single owner of one job: the only writer of its state, the only
//! assigner of its `seq`, the one place its events are logged and fanned out.
//! Everything else talks to it through its channel.

mod admit;
mod checkpoint;
mod lifecycle;
mod output_limit;
mod publish;

use super::{JobDeps, JobRunner, PipelineMsg, ProgressReport};
use crate::clock;
use crate::hub::{Connection, Frame, FrameKind, RelayTx, Sockets};
use crate::metrics::Metrics;
use crate::store::{EventKind, StoreResult, StoredEvent};
use bookstrack_protocol::{
    Envelope, JobState, JobStatus, MessageFactory, Payload, ProgressUpdate, RowError,
};
use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Depth of an owner's inbox. A pipeline that outruns its owner waits here,
/// so this bounds the output in flight: each report carries up to 250 rows
/// as JSON text. Measured on a 100k-row import (`docs/perf-notes.md`): 32 keeps
/// the server under 30 MiB while letting parsing overlap the writes.
const OWNER_INBOX: usize = 32;

/// How far past the newest durable seq an owner may send before it must
/// checkpoint. Progress events are logged with the throttled checkpoints, not
/// one by one (a page write per event would cap the server near 15k events/s,
/// `docs/perf-notes.md`), so a crash can lose the few sent since the last one: the
/// restarted owner continues after this reservation, never reusing a seq a
/// client saw, and a client resuming inside the lost stretch gets `job_state`
/// first (docs/PROTOCOL.md §5.2, §12). Above every throttle's update count, so the reservation
/// itself rarely costs a write of its own.
pub const SEQ_RESERVE: u64 = 64;

pub enum OwnerMsg {
    Subscribe(Box<Subscription>),
    /// A multiplexed socket's subscription (`ws::mux`); counts as `ready`.
    Follow(Box<Follow>),
    /// Start now, as if a viewer had sent `{"type":"ready"}`.
    Ready,
    /// The current state, fresher than the throttled checkpoint.
    Snapshot(oneshot::Sender<JobState>),
    Pipeline(PipelineMsg),
}

/// A socket to serve from `last_seq` on; given back if refused. Boxed in
/// the inbox, whose first block of 32 messages comes with every job.
pub struct Subscription {
    pub conn: Connection,
    pub last_seq: u64,
    pub reply: oneshot::Sender<Result<(), (SubscribeError, Connection)>>,
}

/// A relay to fill from `last_seq` on; answered with the job's pipeline.
pub struct Follow {
    pub relay: RelayTx,
    pub last_seq: u64,
    pub reply: oneshot::Sender<Result<(), SubscribeError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("this job already has {0} viewers")]
    Full(usize),
    #[error("could not read the event log: {0}")]
    Store(#[source] crate::store::StoreError),
}

/// How an owner begins: a new job waits for its first viewer's `ready`; a
/// job picked up after a restart carries on from its checkpoint.
pub(crate) struct OwnerStart {
    pub state: JobState,
    pub runner: Box<dyn JobRunner>,
    pub resumed: Option<Resumed>,
}

pub(crate) struct Resumed {
    pub cursor: u64,
    pub updates_since_checkpoint: u64,
    pub checkpointed_at: i64,
    /// `booksProcessed` of the last progress event any viewer may have seen.
    pub last_emitted_processed: Option<u64>,
}

struct Owner {
    deps: Arc<JobDeps>,
    factory: MessageFactory,
    state: JobState,
    ring: VecDeque<Arc<Frame>>,
    /// The viewers' sockets, which this task drives.
    sockets: Sockets,
    pending_items: Vec<crate::store::Item>,
    pending_errors: Vec<RowError>,
    /// Bytes of output this run of the owner has taken (`--max-import-output-bytes`).
    output_bytes: u64,
    /// Progress events sent since the last checkpoint, logged with the next.
    pending_events: Vec<StoredEvent>,
    /// Seqs up to here are covered by a durable reservation.
    seq_reserved: u64,
    /// The checkpoint being written, and the reservation it makes durable.
    in_flight: Option<(JoinHandle<StoreResult<()>>, u64)>,
    cursor: u64,
    updates_since_persist: u64,
    last_persist: Instant,
    last_emitted_processed: Option<u64>,
    /// An external job's (`JobRunner::remote`): it reserves no seqs ahead.
    remote: bool,
    /// What an external job's owner remembers of its publisher; boxed, so
    /// that the other jobs' owners do not carry its room.
    published: Option<Box<publish::Published>>,
}

pub(crate) fn spawn_owner(deps: &Arc<JobDeps>, start: OwnerStart) {
    let (tx, rx) = mpsc::channel(OWNER_INBOX);
    let viewer_count = Arc::new(AtomicUsize::new(0));
    let job_id = start.state.job_id.clone();
    deps.registry.insert(
        job_id.clone(),
        super::JobHandle {
            tx: tx.clone(),
            viewers: viewer_count.clone(),
            pipeline: start.state.pipeline,
        },
    );
    let (cursor, updates, last_persist, last_emitted) = match &start.resumed {
        Some(r) => (
            r.cursor,
            r.updates_since_checkpoint,
            {
                let since = (clock::now_ms() - r.checkpointed_at).max(0) as u64;
                let now = Instant::now();
                now.checked_sub(std::time::Duration::from_millis(since))
                    .unwrap_or(now)
            },
            r.last_emitted_processed,
        ),
        None => (0, 0, Instant::now(), None),
    };
    let owner = Owner {
        deps: deps.clone(),
        factory: MessageFactory::new(job_id, start.state.pipeline),
        state: start.state,
        ring: VecDeque::new(),
        sockets: {
            let mut s = Sockets::new(deps.limits.timing, viewer_count);
            s.set_acks(deps.acks.clone());
            s
        },
        pending_items: Vec::new(),
        pending_errors: Vec::new(),
        output_bytes: 0,
        pending_events: Vec::new(),
        seq_reserved: 0,
        in_flight: None,
        cursor,
        updates_since_persist: updates,
        last_persist,
        last_emitted_processed: last_emitted,
        remote: start.runner.remote(),
        published: None,
    };
    let wait_for_ready = start.resumed.is_none() && !owner.remote;
    deps.tracker
        .spawn(owner.run(rx, tx, start.runner, wait_for_ready));
}

impl Owner {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<OwnerMsg>,
        tx: mpsc::Sender<OwnerMsg>,
        runner: Box<dyn JobRunner>,
        wait_for_ready: bool,
    ) {
        let cancel = self.deps.cancel.clone();
        // Made once: a `cancelled()` per loop turn takes the token's locks
        // twice per event (perf, `bench live`).
        let cancelled = cancel.cancelled();
        tokio::pin!(cancelled);
        if wait_for_ready {
            let deadline = tokio::time::sleep(self.deps.limits.ready_timeout);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    _ = &mut cancelled => return Box::pin(self.shutdown(rx)).await,
                    _ = &mut deadline => break,
                    _ = self.sockets.ready(&self.factory) => break,
                    msg = rx.recv() => match msg {
                        Some(OwnerMsg::Ready) => break,
                        Some(OwnerMsg::Subscribe(sub)) => Box::pin(self.subscribe(*sub)).await,
                        Some(OwnerMsg::Follow(f)) => {
                            if Box::pin(self.follow(*f)).await {
                                break;
                            }
                        }
                        Some(OwnerMsg::Snapshot(reply)) => {
                            let _ = reply.send(self.state.clone());
                        }
                        Some(OwnerMsg::Pipeline(_)) => {}
                        None => return,
                    },
                }
            }
        }
        let mut pipeline = self.pipeline(tx, runner);
        let mut pipeline_ended = false;
        loop {
            // In this order: a pipeline's report goes into the inbox read
            // right after it, and a busy inbox cannot starve the sockets.
            tokio::select! {
                biased;
                _ = &mut cancelled => {
                    // Before the shutdown's checkpoint: see `drop` below.
                    drop(pipeline);
                    return Box::pin(self.shutdown(rx)).await;
                }
                _ = self.sockets.ready(&self.factory) => {}
                _ = &mut pipeline, if !pipeline_ended => pipeline_ended = true,
                msg = rx.recv() => match msg {
                    Some(OwnerMsg::Ready) => {}
                    Some(OwnerMsg::Snapshot(reply)) => {
                        let _ = reply.send(self.state.clone());
                    }
                    Some(OwnerMsg::Subscribe(sub)) => Box::pin(self.subscribe(*sub)).await,
                    Some(OwnerMsg::Follow(f)) => {
                        Box::pin(self.follow(*f)).await;
                    }
                    Some(OwnerMsg::Pipeline(m)) => {
                        if self.on_pipeline(m).await {
                            break;
                        }
                    }
                    None => return,
                },
            }
        }
        // The pipeline goes first: an external job's runner holds its
        // publishers' route, which must close before the sockets linger.
        drop(pipeline);
        // Boxed, like `shutdown`: a step taken once per job need not make
        // every waiting job's task larger.
        Box::pin(self.leave(rx)).await;
    }

    /// Returns true once the job has reached its terminal state.
    async fn on_pipeline(&mut self, msg: PipelineMsg) -> bool {
        if self.state.status.is_terminal() {
            return true;
        }
        Metrics::inc(&self.deps.metrics.state_updates);
        match msg {
            PipelineMsg::Started { total } => {
                let first_start = self.state.status == JobStatus::Queued;
                // A resumed job keeps the total it had: an external job's
                // publisher may have set it after the job was created.
                if first_start || self.state.total_count == 0 {
                    self.state.total_count = total;
                }
                self.state.status = JobStatus::Running;
                self.state.current_status = "Running".into();
                if first_start {
                    self.emit(Payload::JobStarted { total_count: total }).await;
                }
                self.persist(Vec::new(), self.reserve()).await;
                false
            }
            PipelineMsg::Publish(batch) => self.on_publish(*batch).await,
            PipelineMsg::Progress(report) => {
                if let Err(f) = self.count_output(&report) {
                    // The pipeline's next report finds the owner gone and stops.
                    let status = format!("Failed: {}", f.message);
                    self.finish(JobStatus::Failed, &status, Err(f)).await;
                    return true;
                }
                self.on_progress(*report).await;
                false
            }
            PipelineMsg::Finished(verdict) => {
                match *verdict {
                    Ok(extras) => {
                        self.finish(JobStatus::Complete, "Complete", Ok(extras))
                            .await;
                    }
                    Err(f) => {
                        let status = format!("Failed: {}", f.message);
                        self.finish(JobStatus::Failed, &status, Err(f)).await;
                    }
                }
                true
            }
        }
    }

    async fn on_progress(&mut self, r: ProgressReport) {
        let s = &mut self.state;
        s.processed_count = r.processed;
        s.success_count = r.success;
        s.failure_count = r.failure;
        s.current_status = r.status.clone();
        if let Some(total) = r.total {
            s.total_count = total;
        }
        self.cursor = r.cursor;
        self.pending_items.extend(r.items);
        self.pending_errors.extend(r.errors);
        // Progress never goes backwards for a viewer: after a restart the
        // pipeline redoes work since its checkpoint without re-announcing it.
        let behind = self
            .last_emitted_processed
            .is_some_and(|last| r.processed < last);
        if !behind {
            let total = self.state.total_count;
            let progress = if total == 0 {
                0.0
            } else {
                (r.processed as f64 / total as f64).clamp(0.0, 1.0)
            };
            self.emit(Payload::JobProgress(ProgressUpdate {
                progress,
                status: r.status,
                books_processed: Some(r.processed),
                total_books: Some(total),
                current_title: r.current_title,
            }))
            .await;
            self.last_emitted_processed = Some(r.processed);
        }
        self.updates_since_persist += 1;
        let throttle = self.deps.limits.throttle(self.state.pipeline);
        if self.updates_since_persist >= throttle.updates
            || self.last_persist.elapsed() >= throttle.interval
        {
            self.checkpoint(Vec::new(), SEQ_RESERVE).await;
        }
    }

    /// Seqs a checkpoint reserves ahead: none for an external job, whose
    /// owner logs each event before it is sent.
    fn reserve(&self) -> u64 {
        if self.remote {
            0
        } else {
            SEQ_RESERVE
        }
    }

    /// Logs an event ahead of sending it (progress events: with the next
    /// checkpoint, inside the seq reservation), so that any event a viewer
    /// has seen is either replayable after a crash or covered by a snapshot.
    async fn emit(&mut self, payload: Payload) {
        let seq = self.state.last_seq + 1;
        let progress = matches!(payload, Payload::JobProgress(_));
        let env: Envelope = self.factory.event(seq, clock::now_ms(), payload);
        let json = env.to_json();
        if progress {
            if seq > self.seq_reserved {
                self.settle().await;
            }
            if seq > self.seq_reserved {
                self.persist(Vec::new(), SEQ_RESERVE).await;
            }
            self.pending_events.push(StoredEvent {
                seq,
                kind: EventKind::Progress,
                json: json.clone(),
            });
        } else if let Err(e) = self
            .deps
            .store
            .append_event(
                &self.state.job_id,
                StoredEvent {
                    seq,
                    kind: EventKind::Other,
                    json: json.clone(),
                },
                self.deps.limits.event_retention,
            )
            .await
        {
            tracing::error!(job_id = %self.state.job_id, error = %e, "could not log event");
        }
        self.state.last_seq = seq;
        self.fan_out(Frame::new(&env, json));
    }

    fn fan_out(&mut self, frame: Arc<Frame>) {
        self.ring.push_back(frame.clone());
        while self.ring.len() > self.deps.limits.replay_cache.max(1) {
            self.ring.pop_front();
        }
        self.sockets.push(&frame);
        debug_assert!(frame.kind != FrameKind::Terminal || self.state.status.is_terminal());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inbox allocates room for 32 messages with every job.
    #[test]
    fn inbox_messages_stay_small() {
        assert!(size_of::<OwnerMsg>() <= 16, "{}", size_of::<OwnerMsg>());
    }
}
