//! Jobs: one owner task per job (docs/PROTOCOL.md §5), the registry of
//! live owners, and the contract a pipeline implements to run under an
//! owner. The viewers an owner fans out to are `crate::hub`'s.

mod acks;
mod deps;
mod ended;
mod owner;
mod registry;
mod replay;

pub use acks::Acks;
pub use deps::{remove_input, JobDeps, JobLimits};
pub use ended::{EndedJobs, EndedViewer};
pub(crate) use owner::{spawn_owner, OwnerStart, Resumed as OwnerResumed};
pub use owner::{Follow, OwnerMsg, SubscribeError, Subscription};
pub use registry::{JobHandle, Registry};
pub use replay::{count_resume, replay_from_store};

use crate::store::StoreError;
use bookstrack_protocol::{ErrorCode, RowError};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// A pipeline's report of how far it got, with the output produced since its
/// previous report. The owner persists output and `cursor` together.
#[derive(Debug, Clone, Default)]
pub struct ProgressReport {
    pub processed: u64,
    pub success: u64,
    pub failure: u64,
    pub status: String,
    pub current_title: Option<String>,
    /// Output records as JSON text, serialised by the pipeline's own thread.
    pub items: Vec<crate::store::Item>,
    pub errors: Vec<RowError>,
    /// Where to restart after a crash (pipeline-defined, e.g. input records consumed).
    pub cursor: u64,
    /// A new total, once the pipeline knows it: a scan counts its books
    /// only after finding them on every photo.
    pub total: Option<u64>,
}

#[derive(Debug)]
pub enum PipelineMsg {
    Started {
        total: u64,
    },
    Progress(Box<ProgressReport>),
    /// Boxed, like `OwnerMsg::Subscribe`: every message in the owner's
    /// inbox takes the room of the largest.
    Finished(Box<Result<Map<String, Value>, JobFailure>>),
    /// Events from an external job's publisher, answered by the owner once
    /// they are logged (`owner/publish.rs`).
    Publish(Box<PublishBatch>),
}

/// A publisher's events and where to answer: the seq each got, or why not.
#[derive(Debug)]
pub struct PublishBatch {
    pub events: Vec<bookstrack_protocol::publish::PublishEvent>,
    pub reply: oneshot::Sender<PublishAnswer>,
}

/// What a publish request came to.
#[derive(Debug)]
pub enum PublishAnswer {
    /// Each event's outcome (some may be refused).
    Done(bookstrack_protocol::publish::PublishResponse),
    /// Nothing was logged; a retry with the same keys is safe.
    Store(StoreError),
    /// Over the job's publish rate: nothing was logged; retry after this.
    RateLimited(std::time::Duration),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct JobFailure {
    pub code: ErrorCode,
    pub message: String,
}

impl JobFailure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        JobFailure {
            code,
            message: message.into(),
        }
    }
}

/// Why a pipeline stopped early without a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// Where a resumed run starts: the last checkpoint's cursor and counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResumePoint {
    pub cursor: u64,
    pub processed: u64,
    pub success: u64,
    pub failure: u64,
}

/// What a running pipeline holds: its way to report to the owner.
pub struct JobContext {
    tx: mpsc::Sender<OwnerMsg>,
    cancel: CancellationToken,
    pub resume: ResumePoint,
}

impl JobContext {
    pub(crate) fn new(
        tx: mpsc::Sender<OwnerMsg>,
        cancel: CancellationToken,
        resume: ResumePoint,
    ) -> Self {
        JobContext { tx, cancel, resume }
    }

    /// For runners that run as a task: waits without holding a thread.
    async fn send_async(&self, msg: PipelineMsg) -> Result<(), Stopped> {
        if self.cancel.is_cancelled() {
            return Err(Stopped);
        }
        self.tx
            .send(OwnerMsg::Pipeline(msg))
            .await
            .map_err(|_| Stopped)
    }

    pub async fn started_async(&self, total: u64) -> Result<(), Stopped> {
        self.send_async(PipelineMsg::Started { total }).await
    }

    pub async fn report(&self, report: ProgressReport) -> Result<(), Stopped> {
        self.send_async(PipelineMsg::Progress(Box::new(report)))
            .await
    }

    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    fn send(&self, msg: PipelineMsg) -> Result<(), Stopped> {
        if self.cancel.is_cancelled() {
            return Err(Stopped);
        }
        self.tx
            .blocking_send(OwnerMsg::Pipeline(msg))
            .map_err(|_| Stopped)
    }

    pub fn started(&self, total: u64) -> Result<(), Stopped> {
        self.send(PipelineMsg::Started { total })
    }

    pub fn progress(&self, report: ProgressReport) -> Result<(), Stopped> {
        self.send(PipelineMsg::Progress(Box::new(report)))
    }

    /// Hands a publisher's events to the owner, which answers `batch.reply`.
    pub async fn publish(&self, batch: PublishBatch) -> Result<(), Stopped> {
        self.send_async(PipelineMsg::Publish(Box::new(batch))).await
    }
}

/// What a pipeline run returns: the `job_complete` extras or the failure.
pub type Verdict = Result<Map<String, Value>, JobFailure>;

/// How a pipeline run occupies the machine.
pub enum Run {
    /// Blocking code (parsing, OCR, HTTP via a local runtime) on the
    /// blocking pool.
    Blocking(Box<dyn FnOnce() -> Result<Verdict, Stopped> + Send>),
    /// Work that only waits on timers and the owner's inbox: a task costs a
    /// few hundred bytes where a thread costs its stack, so ten thousand of
    /// these jobs fit in one process.
    Task(Pin<Box<dyn Future<Output = Result<Verdict, Stopped>> + Send>>),
}

/// A pipeline, built from a job's stored parameters, started by its owner.
pub trait JobRunner: Send + 'static {
    fn start(self: Box<Self>, ctx: JobContext) -> Run;

    /// Whether the work runs in another service (an external job, whose
    /// publisher sends its events): it starts at once rather than on a
    /// viewer's `ready`, takes no running slot, and its owner logs each
    /// event before sending it, so no seq is ever reserved ahead.
    fn remote(&self) -> bool {
        false
    }
}
