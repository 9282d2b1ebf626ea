//! How an owner begins and ends: its pipeline, the viewers still on their
//! way when its job ends, and a server shutdown.

use super::{Owner, OwnerMsg};
use crate::clock;
use crate::hub::Frame;
use crate::hub::CLOSE_GOING_AWAY;
use crate::job::{JobContext, JobFailure, JobRunner, PipelineMsg, ResumePoint, Run, Stopped};
use crate::metrics::Metrics;
use crate::store::{EventKind, StoredEvent};
use bookstrack_protocol::ErrorCode;
use bookstrack_protocol::JobStatus;
use futures_util::FutureExt;
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::mpsc;

impl Owner {
    pub(super) async fn finish(
        &mut self,
        status: JobStatus,
        current_status: &str,
        verdict: Result<Map<String, Value>, JobFailure>,
    ) {
        let now = clock::now_ms();
        self.state.status = status;
        self.state.current_status = current_status.to_string();
        self.state.end_time = Some(now);
        let seq = self.state.last_seq + 1;
        let env = match verdict {
            Ok(extras) => self.factory.complete(
                seq,
                now,
                self.state.total_count,
                self.state.success_count,
                self.state.failure_count,
                extras,
            ),
            Err(f) => self.factory.error(seq, now, f.code, f.message),
        };
        let json = env.to_json();
        self.state.last_seq = seq;
        // The terminal event, the final state and the last output land in
        // one transaction: a reader never sees one without the others.
        self.persist(
            vec![StoredEvent {
                seq,
                kind: EventKind::Terminal,
                json: json.clone(),
            }],
            0,
        )
        .await;
        if !self.sockets.is_empty() {
            self.deps.acks.terminal_sent(&self.state.job_id, seq);
        }
        self.fan_out(Frame::new(&env, json));
        self.ended();
        self.remove_input().await;
    }

    /// After the terminal event is logged and sent: every viewer is told,
    /// and the cleanup learns of a new end time.
    pub(super) fn ended(&mut self) {
        self.sockets.finish();
        Metrics::inc(&self.deps.metrics.jobs_finished);
        self.deps.cleanup.notify_one();
    }

    /// Stops taking viewers, serves those already on their way (the job
    /// has ended: a replay and a close), and lets every socket close.
    pub(super) async fn leave(&mut self, mut rx: mpsc::Receiver<OwnerMsg>) {
        self.deps.registry.remove(&self.state.job_id);
        rx.close();
        while let Some(msg) = rx.recv().await {
            match msg {
                OwnerMsg::Subscribe(sub) => Box::pin(self.subscribe(*sub)).await,
                OwnerMsg::Follow(f) => {
                    Box::pin(self.follow(*f)).await;
                }
                OwnerMsg::Snapshot(reply) => {
                    let _ = reply.send(self.state.clone());
                }
                OwnerMsg::Ready | OwnerMsg::Pipeline(_) => {}
            }
        }
        // Otherwise the job has ended, and `finish` (or `subscribe`, for
        // those just served) has told every viewer so.
        if self.deps.cancel.is_cancelled() {
            self.sockets
                .close_all(CLOSE_GOING_AWAY, "server shutting down");
        }
        let cancel = self.deps.cancel.clone();
        self.sockets
            .linger_until(Some(&self.factory), &cancel)
            .await;
    }

    /// The pipeline, polled by the owner's own task: a timer-driven
    /// pipeline's report then reaches the owner with no wakeup of another
    /// task (blocking ones still run on the blocking pool). It ends by
    /// sending its verdict to the inbox, like any report.
    pub(super) fn pipeline(
        &self,
        tx: mpsc::Sender<OwnerMsg>,
        runner: Box<dyn JobRunner>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let cancel = self.deps.cancel.child_token();
        let resume = ResumePoint {
            cursor: self.cursor,
            processed: self.state.processed_count,
            success: self.state.success_count,
            failure: self.state.failure_count,
        };
        let ctx = JobContext::new(tx.clone(), cancel.clone(), resume);
        // An external job's work runs elsewhere: it takes no running slot.
        let running = (!runner.remote()).then(|| self.deps.running.clone());
        Box::pin(async move {
            let _permit = match running {
                Some(running) => tokio::select! {
                    p = running.acquire_owned() => Some(p),
                    _ = cancel.cancelled() => return,
                },
                None => None,
            };
            let outcome = match runner.start(ctx) {
                Run::Blocking(f) => tokio::task::spawn_blocking(f)
                    .await
                    .map_err(|e| e.to_string()),
                Run::Task(fut) => std::panic::AssertUnwindSafe(fut)
                    .catch_unwind()
                    .await
                    .map_err(|_| "the pipeline panicked".to_string()),
            };
            let verdict = match outcome {
                Ok(Ok(verdict)) => verdict,
                Ok(Err(Stopped)) => return,
                Err(e) => {
                    tracing::error!(error = %e, "pipeline crashed");
                    Err(JobFailure::new(
                        ErrorCode::ProcessingFailed,
                        "the job's pipeline crashed",
                    ))
                }
            };
            let _ = tx
                .send(OwnerMsg::Pipeline(PipelineMsg::Finished(Box::new(verdict))))
                .await;
        })
    }

    /// Server shutdown: keep everything done so far; the job resumes from
    /// here at the next start.
    pub(super) async fn shutdown(&mut self, rx: mpsc::Receiver<OwnerMsg>) {
        if !self.state.status.is_terminal() {
            // Every event sent is in this checkpoint: a restart continues
            // right after it, with no gap for a resuming client.
            self.persist(Vec::new(), 0).await;
        }
        self.leave(rx).await;
    }

    pub(super) async fn remove_input(&self) {
        if let Ok(Some(path)) = self.deps.store.input_path(&self.state.job_id).await {
            super::super::remove_input(std::path::Path::new(&path)).await;
        }
        // The terminal checkpoint has cleared the stored path: the spool
        // (a file, or a folder of photos) is named after the job.
        super::super::remove_input(&self.deps.spool_path(&self.state.job_id)).await;
    }
}
