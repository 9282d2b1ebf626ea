//! The composition root: builds each part from the configuration and hands
//! it only what it uses (the owners their `JobDeps`, the pipelines their
//! `PipelineDeps`), and runs the operations that span parts: starting a job,
//! recovering jobs after a restart, cleaning up old ones.

use crate::clock;
use crate::config::Config;
use crate::job::{remove_input, spawn_owner, JobDeps, JobLimits, OwnerStart, Registry};
use crate::metrics::Metrics;
use crate::pipelines::{BuildError, JobSpec, PipelineDeps};
use crate::store::{
    Checkpoint, EventKind, JobStore, LookupStore, NewJob, SqliteStore, StoreError, StoredEvent,
    TokenRecord, Unfinished,
};
use crate::token;
use bookstrack_protocol::{Envelope, ErrorCode, JobState, JobStatus, MessageFactory, Payload};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("could not prepare the data directory: {0}")]
    DataDir(std::io::Error),
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("could not store the job's spec: {0}")]
    Spec(serde_json::Error),
}

/// How a job that could not start answers (409 for a taken job id).
impl From<AppError> for crate::api_error::ApiErr {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Store(StoreError::Duplicate(id)) => crate::api_error::ApiErr::new(
                axum::http::StatusCode::CONFLICT,
                ErrorCode::Conflict,
                format!("job {id} already exists"),
            ),
            other => {
                tracing::error!(error = %other, "could not start job");
                crate::api_error::ApiErr::internal("could not start the job")
            }
        }
    }
}

pub struct App {
    pub config: Config,
    /// The job quotas every job-creating request passes (`access/`).
    pub admission: Arc<crate::access::Admission>,
    /// What every job's owner is handed.
    pub jobs: Arc<JobDeps>,
    /// `--max-sockets` and `--max-sockets-per-client`, which every socket
    /// takes a place in before its upgrade (`ws/mod.rs`).
    pub sockets: Arc<crate::hub::Slots>,
    /// The viewers of ended jobs, who share one copy of its events
    /// (`job/ended.rs`).
    pub ended: Arc<crate::job::EndedJobs>,
    /// What every pipeline is built with.
    pub pipelines: PipelineDeps,
    /// `--max-results-streams`: results answers streaming at once (`http/results.rs`).
    pub results_streams: Arc<Semaphore>,
}

/// A started job: what the 202 answer carries.
#[derive(Debug, Clone)]
pub struct Started {
    pub job_id: String,
    pub token: String,
    pub expires_at: i64,
    pub refreshable_from: i64,
    /// An external job's publisher credential and its expiry.
    pub publisher_key: Option<(String, i64)>,
}

impl Started {
    /// The 202 answer's `data`.
    pub fn into_data(
        self,
        message: String,
        total_photos: Option<u64>,
    ) -> bookstrack_protocol::JobStarted {
        bookstrack_protocol::JobStarted {
            job_id: self.job_id,
            token: self.token,
            message,
            total_photos,
            expires_at: Some(self.expires_at),
            refreshable_from: Some(self.refreshable_from),
        }
    }
}

/// What happened to interrupted jobs at start-up.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub resumed: Vec<String>,
    pub failed: Vec<String>,
}

impl App {
    /// Opens the embedded SQLite store in `config.data_dir`: both the job
    /// store and the lookups.
    pub fn open(config: Config, cancel: CancellationToken) -> Result<Arc<App>, AppError> {
        crate::private_fs::private_dir(&config.data_dir).map_err(AppError::DataDir)?;
        crate::private_fs::private_dir(&config.uploads_dir()).map_err(AppError::DataDir)?;
        crate::private_fs::private_file(&config.database_path()).map_err(AppError::DataDir)?;
        let store = Arc::new(SqliteStore::open(&config.database_path())?);
        App::with_stores(config, store.clone(), store, cancel)
    }

    pub fn with_stores(
        config: Config,
        store: Arc<dyn JobStore>,
        lookups: Arc<dyn LookupStore>,
        cancel: CancellationToken,
    ) -> Result<Arc<App>, AppError> {
        let enricher = crate::pipelines::enrichment::enricher(&config.enrich, lookups.clone())
            .map_err(AppError::Config)?;
        let metrics = Arc::new(Metrics::default());
        let acks = crate::job::Acks::new(store.clone(), metrics.clone());
        let jobs = Arc::new(JobDeps {
            store,
            metrics,
            registry: Registry::default(),
            cancel,
            tracker: TaskTracker::new(),
            running: Arc::new(Semaphore::new(config.max_running_jobs.max(1))),
            cleanup: Arc::new(Notify::new()),
            limits: JobLimits::of(&config),
            spool_dir: config.uploads_dir(),
            acks,
        });
        let pipelines = PipelineDeps {
            scan: config.scan.clone(),
            scan_gates: crate::pipelines::ai_scan::gate::Gates::new(&config.scan),
            lookups,
            enricher: Arc::new(enricher),
            external: crate::pipelines::external::ExternalDeps {
                publishers: Arc::default(),
                config: config.publish.clone(),
                enforce_client_limit: true,
            },
            max_csv_field_bytes: config.max_csv_field_bytes,
        };
        Ok(Arc::new(App {
            sockets: crate::hub::Slots::new(config.max_sockets, config.max_sockets_per_client),
            ended: crate::job::EndedJobs::new(config.max_viewers_per_job),
            results_streams: Arc::new(Semaphore::new(config.max_results_streams.max(1))),
            admission: crate::access::Admission::new(crate::access::AdmissionLimits::of(&config)),
            config,
            jobs,
            pipelines,
        }))
    }

    /// Where an upload for `job_id` is spooled, kept until the job ends.
    pub fn spool_path(&self, job_id: &str) -> PathBuf {
        self.jobs.spool_path(job_id)
    }

    pub fn new_job_id() -> String {
        uuid::Uuid::now_v7().to_string()
    }

    /// Records the job, its spec and its token, then hands it to a new
    /// owner, which waits for the first viewer's `ready` (at most
    /// `ready_timeout`).
    pub async fn start_job(
        &self,
        job_id: String,
        spec: JobSpec,
        input: Option<PathBuf>,
    ) -> Result<Started, AppError> {
        self.start_job_held(job_id, spec, input, None).await
    }

    /// [`App::start_job`] for a request that was admitted: the job holds
    /// `slot` until its pipeline ends (`access/admission.rs`).
    pub async fn start_job_held(
        &self,
        job_id: String,
        spec: JobSpec,
        input: Option<PathBuf>,
        slot: Option<crate::access::Slot>,
    ) -> Result<Started, AppError> {
        // An external job's publisher gets a credential of its own.
        let publisher = matches!(spec, JobSpec::External(_));
        let pipeline = spec.pipeline();
        let params = serde_json::to_value(&spec).map_err(AppError::Spec)?;
        let runner = hold(spec.build(&self.pipelines, input.as_deref())?, slot);
        let now = clock::now_ms();
        let (token, token_hash) = token::generate();
        let state = JobState::new(job_id.clone(), pipeline, now);
        let expires_at = now + self.config.token_ttl.as_millis() as i64;
        let publisher_key = publisher.then(|| {
            let (key, hash) = token::generate();
            let ttl = self.config.publish.publisher_key_ttl.as_millis() as i64;
            (key, hash, now + ttl)
        });
        self.jobs
            .store
            .create_job(NewJob {
                state: state.clone(),
                token_hash,
                token_expires_at: expires_at,
                input_path: input.map(|p| p.to_string_lossy().into_owned()),
                params,
                publisher: publisher_key.as_ref().map(|(_, hash, exp)| TokenRecord {
                    hash: *hash,
                    expires_at: *exp,
                    previous: None,
                }),
            })
            .await?;
        Metrics::inc(&self.jobs.metrics.jobs_started);
        spawn_owner(
            &self.jobs,
            OwnerStart {
                state,
                runner,
                resumed: None,
            },
        );
        Ok(Started {
            job_id,
            token,
            expires_at,
            refreshable_from: expires_at - self.config.token_refresh_window.as_millis() as i64,
            publisher_key: publisher_key.map(|(key, _, exp)| (key, exp)),
        })
    }

    /// Picks up every job a previous process left queued or running: resumed
    /// from its checkpoint where its input is still there, otherwise ended
    /// with a PROCESSING_FAILED error so that nothing stays `running` forever.
    pub async fn recover(&self) -> Result<Recovery, AppError> {
        let mut report = Recovery::default();
        // A recovered external job held its client's slot before the restart.
        let mut deps = self.pipelines.clone();
        deps.external.enforce_client_limit = false;
        for u in self.jobs.store.unfinished().await? {
            let id = u.state.job_id.clone();
            let input = u.input_path.as_ref().map(PathBuf::from);
            let runner = JobSpec::from_stored(&u.params)
                .and_then(|spec| spec.build(&deps, input.as_deref()));
            match runner {
                Ok(runner) => {
                    let runner = hold(runner, Some(self.admission.recovered()));
                    let resumed = resumed_from(&u);
                    let mut state = u.state;
                    state.last_seq = state.last_seq.max(u.last_event_seq);
                    spawn_owner(
                        &self.jobs,
                        OwnerStart {
                            state,
                            runner,
                            resumed: Some(resumed),
                        },
                    );
                    tracing::info!(job_id = %id, "resumed job after restart");
                    report.resumed.push(id);
                }
                Err(e) => {
                    self.fail_unresumable(u, &e.to_string()).await?;
                    tracing::warn!(job_id = %id, reason = %e, "could not resume job");
                    report.failed.push(id);
                }
            }
        }
        Ok(report)
    }

    async fn fail_unresumable(&self, u: Unfinished, reason: &str) -> Result<(), AppError> {
        let mut state = u.state;
        let now = clock::now_ms();
        let seq = state.last_seq.max(u.last_event_seq) + 1;
        let message =
            format!("the job was interrupted by a server restart and cannot resume: {reason}");
        let env = MessageFactory::new(state.job_id.clone(), state.pipeline).error(
            seq,
            now,
            ErrorCode::ProcessingFailed,
            message.clone(),
        );
        state.status = JobStatus::Failed;
        state.current_status = format!("Failed: {message}");
        state.end_time = Some(now);
        state.last_seq = seq;
        state.version += 1;
        self.jobs
            .store
            .checkpoint(
                &state.job_id.clone(),
                Checkpoint {
                    state: Some(state),
                    cursor: u.cursor,
                    events: vec![StoredEvent {
                        seq,
                        kind: EventKind::Terminal,
                        json: env.to_json(),
                    }],
                    retain: self.config.event_retention,
                    seq_reserved: seq,
                    ..Default::default()
                },
            )
            .await?;
        Metrics::inc(&self.jobs.metrics.state_writes);
        self.jobs.cleanup.notify_one();
        Ok(())
    }

    /// The job's state: the live owner's if it is running, else the stored one.
    /// The freshest state: the owner's if the job runs here, else the
    /// stored one; with the acked seq, which neither holds until written.
    pub async fn job_state(&self, job_id: &str) -> Result<Option<JobState>, StoreError> {
        let mut state = None;
        if let Some(h) = self.jobs.registry.get(job_id) {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if h.tx.send(crate::job::OwnerMsg::Snapshot(tx)).await.is_ok() {
                state = rx.await.ok();
            }
        }
        let acks = &self.jobs.acks;
        match state {
            Some(mut s) => {
                s.acked_seq = acks.acked(job_id).await?;
                Ok(Some(s))
            }
            // The stored state carries the written acks already.
            None => Ok(self.jobs.store.job_state(job_id).await?.map(|mut s| {
                s.acked_seq = s.acked_seq.max(acks.pending(job_id));
                s
            })),
        }
    }

    /// Deletes every job that ended more than `job_retention` ago; returns how many.
    pub async fn clean_expired(&self) -> Result<usize, StoreError> {
        let cutoff = clock::now_ms() - self.config.job_retention.as_millis() as i64;
        let store = &self.jobs.store;
        let ids = store.ended_before(cutoff).await?;
        for id in &ids {
            if let Ok(Some(path)) = store.input_path(id).await {
                remove_input(Path::new(&path)).await;
            }
            store.delete_job(id).await?;
            self.jobs.acks.forget(id);
            Metrics::inc(&self.jobs.metrics.jobs_cleaned);
        }
        Ok(ids.len())
    }

    /// The cleanup schedule, a task of its own: it never shares a timer with
    /// a job's work, so a job's timer can never delay or replace its cleanup.
    pub fn spawn_cleanup(self: &Arc<Self>) {
        let app = self.clone();
        self.jobs.tracker.spawn(async move {
            loop {
                if let Err(e) = app.clean_expired().await {
                    tracing::error!(error = %e, "cleanup failed");
                }
                let next = match app.jobs.store.earliest_end().await {
                    Ok(Some(end)) => Some(end + app.config.job_retention.as_millis() as i64),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::error!(error = %e, "cleanup could not read its schedule");
                        Some(clock::now_ms() + 60_000)
                    }
                };
                let sleep = async {
                    match next {
                        Some(at) => tokio::time::sleep(clock::until(at)).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = app.jobs.cancel.cancelled() => return,
                    _ = app.jobs.cleanup.notified() => {}
                    _ = sleep => {}
                }
            }
        });
    }
}

fn hold(
    runner: Box<dyn crate::job::JobRunner>,
    slot: Option<crate::access::Slot>,
) -> Box<dyn crate::job::JobRunner> {
    match slot {
        Some(slot) => Box::new(crate::access::admission::Held { runner, slot }),
        None => runner,
    }
}

fn resumed_from(u: &Unfinished) -> crate::job::OwnerResumed {
    let last_emitted_processed = u
        .last_event
        .as_deref()
        .and_then(|j| serde_json::from_str::<Envelope>(j).ok())
        .and_then(|e| match e.into_payload() {
            Payload::JobProgress(p) => p.books_processed,
            _ => None,
        });
    crate::job::OwnerResumed {
        cursor: u.cursor,
        updates_since_checkpoint: u.updates_since_checkpoint,
        checkpointed_at: u.checkpointed_at,
        last_emitted_processed,
    }
}
