//! What a job's owner uses of the server, handed to it by the composition
//! root (`app.rs`): the job store, the counters, the registry of live owners,
//! the shutdown signal, the running-jobs gate and the limits it enforces.
//! Nothing here knows `App`, so an owner is built and tested on its own.

use super::Registry;
use crate::config::{Config, Throttle};
use crate::metrics::Metrics;
use crate::store::JobStore;
use crate::ws::driver::Timing;
use bookstrack_protocol::Pipeline;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct JobDeps {
    pub store: Arc<dyn JobStore>,
    pub metrics: Arc<Metrics>,
    pub registry: Registry,
    /// Cancelled on shutdown: sockets close with 1001, owners checkpoint.
    pub cancel: CancellationToken,
    /// Owners, pipelines and sockets, which axum's graceful shutdown does not see.
    pub tracker: TaskTracker,
    /// Bounds how many pipelines run at once; the rest stay `queued`.
    pub running: Arc<Semaphore>,
    /// Wakes the cleanup task when a job ends.
    pub cleanup: Arc<Notify>,
    pub limits: JobLimits,
    /// Where uploads are spooled, one file or folder per job id.
    pub spool_dir: PathBuf,
}

/// The configuration an owner reads, taken from [`Config`] once.
#[derive(Clone)]
pub struct JobLimits {
    /// How long a new job waits for its first viewer's `ready`.
    pub ready_timeout: Duration,
    pub max_viewers_per_job: usize,
    pub event_retention: u64,
    /// Recent frames each live job keeps in memory to serve resumes.
    pub replay_cache: usize,
    pub throttle_override: Option<Throttle>,
    /// The sockets' ping, pong and message-size limits.
    pub timing: Timing,
}

impl JobLimits {
    pub fn of(config: &Config) -> JobLimits {
        JobLimits {
            ready_timeout: config.ready_timeout,
            max_viewers_per_job: config.max_viewers_per_job,
            event_retention: config.event_retention,
            replay_cache: config.replay_cache,
            throttle_override: config.throttle_override,
            timing: Timing::of(config),
        }
    }

    pub fn throttle(&self, p: Pipeline) -> Throttle {
        self.throttle_override
            .unwrap_or_else(|| Throttle::for_pipeline(p))
    }
}

impl JobDeps {
    /// Where an upload for `job_id` is spooled, kept until the job ends.
    pub fn spool_path(&self, job_id: &str) -> PathBuf {
        self.spool_dir.join(job_id)
    }
}

/// A job's spooled input: one file (an upload) or a folder (photos).
pub async fn remove_input(path: &Path) {
    if path.is_dir() {
        let _ = tokio::fs::remove_dir_all(path).await;
    } else {
        let _ = tokio::fs::remove_file(path).await;
    }
}
