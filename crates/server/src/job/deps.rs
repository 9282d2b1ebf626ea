//! What a job's owner uses of the server, handed to it by the composition
//! root (`app.rs`): the job store, the counters, the registry of live owners,
//! the shutdown signal, the running-jobs gate and the limits it enforces.
//! Nothing here knows `App`, so an owner is built and tested on its own.

use super::Registry;
use crate::config::{Config, Throttle};
use crate::hub::Timing;
use crate::metrics::Metrics;
use crate::store::JobStore;
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
    /// Clients' acknowledgements, kept durably.
    pub acks: Arc<super::Acks>,
}

/// The configuration an owner reads, taken from [`Config`] once.
#[derive(Clone)]
pub struct JobLimits {
    /// How long a new job waits for its first viewer's `ready`.
    pub ready_timeout: Duration,
    pub max_viewers_per_job: usize,
    /// Jobs a multiplexed socket may follow (`ws::mux`).
    pub max_jobs_per_socket: usize,
    pub event_retention: u64,
    /// Recent frames each live job keeps in memory to serve resumes.
    pub replay_cache: usize,
    pub throttle_override: Option<Throttle>,
    /// Frames a viewer may have queued before its progress is coalesced.
    pub viewer_queue: usize,
    /// The sockets' ping, pong and message-size limits.
    pub timing: Timing,
    /// Bytes of output (records and row errors) one job may write.
    pub max_output_bytes: u64,
}

impl JobLimits {
    pub fn of(config: &Config) -> JobLimits {
        JobLimits {
            ready_timeout: config.ready_timeout,
            max_viewers_per_job: config.max_viewers_per_job,
            max_jobs_per_socket: config.max_jobs_per_socket,
            event_retention: config.event_retention,
            replay_cache: config.replay_cache,
            throttle_override: config.throttle_override,
            viewer_queue: config.viewer_queue,
            max_output_bytes: config.max_import_output_bytes,
            timing: config.hub_timing(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{spawn_owner, OwnerStart};
    use crate::pipelines::synthetic::Synthetic;
    use crate::store::SqliteStore;
    use bookstrack_protocol::{JobState, JobStatus};

    /// An owner runs a job to its end with nothing but its deps: no `App`,
    /// no HTTP, no socket.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_owner_runs_on_its_deps_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        config.ready_timeout = Duration::ZERO;
        let store = Arc::new(SqliteStore::open(&config.database_path()).unwrap());
        let deps = Arc::new(JobDeps {
            store: store.clone(),
            metrics: Arc::new(Metrics::default()),
            registry: Registry::default(),
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            running: Arc::new(Semaphore::new(1)),
            cleanup: Arc::new(Notify::new()),
            limits: JobLimits::of(&config),
            spool_dir: config.uploads_dir(),
            acks: crate::job::Acks::new(store.clone(), Arc::new(Metrics::default())),
        });
        let state = JobState::new("j", Pipeline::Synthetic, 0);
        let (_, token_hash) = crate::token::generate();
        store
            .create_job(crate::store::NewJob {
                state: state.clone(),
                token_hash,
                token_expires_at: i64::MAX,
                input_path: None,
                params: serde_json::Value::Null,
                publisher: None,
            })
            .await
            .unwrap();
        let runner = Box::new(Synthetic {
            steps: 5,
            ..Default::default()
        });
        spawn_owner(
            &deps,
            OwnerStart {
                state,
                runner,
                resumed: None,
            },
        );
        deps.tracker.close();
        deps.tracker.wait().await;
        let end = store.job_state("j").await.unwrap().unwrap();
        assert_eq!(end.status, JobStatus::Complete);
        assert_eq!(end.last_seq, 7, "job_started, 5 progress, job_complete");
        let events = store.events_after("j", 0, 100).await.unwrap();
        assert_eq!(events.len(), 7);
        assert!(
            deps.registry.get("j").is_none(),
            "the owner left the registry"
        );
    }
}
