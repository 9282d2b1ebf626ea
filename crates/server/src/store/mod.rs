//! Storage behind two narrow traits: [`JobStore`] (what a second backend,
//! Redis for several nodes, implements) and [`LookupStore`] (queries over
//! many jobs' data, on SQLite). `tests/store_contract.rs` runs one suite of
//! `JobStore` properties against every backend.

mod event_log;
mod lookup;
mod output;
mod publisher;
mod reader;
#[cfg(feature = "redis")]
mod redis;
mod schema;
mod sqlite;
mod writer;

#[cfg(feature = "redis")]
pub use self::redis::RedisStore;
pub use event_log::TRIM_EVERY;
pub use publisher::TokenRole;
pub use reader::READER_THREADS;
pub use schema::schema_version;
pub use sqlite::SqliteStore;
pub use writer::MAX_GROUP_COMMIT;

use crate::token::TokenHash;
use async_trait::async_trait;
use bookstrack_protocol::{JobState, RowError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// A backend's own error, shared: one failed group commit answers every
/// write that was in it (`writer.rs`).
pub type SourceError = Arc<dyn std::error::Error + Send + Sync>;

/// What can go wrong in any backend. The backend's own error stays the
/// source, so a log line or a caller can still tell a busy database from a
/// full disk.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[source] SourceError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(#[source] SourceError),
    #[error("job {0} already exists")]
    Duplicate(String),
    /// The backend's threads or connection are gone (shutdown, or a crash
    /// of the thread that owned the connection).
    #[error("the store's {0} stopped")]
    Stopped(&'static str),
    /// The data directory was last written by a newer build.
    #[error("the database has schema version {found}; this build knows up to {known}")]
    NewerSchema { found: i64, known: i64 },
    /// Another node took the job over: this node's writes to it are refused.
    #[error("job {0} is owned by another node now")]
    Fenced(String),
    /// A write that would break a job's log: an event out of order, or a
    /// write to a job that ended or does not exist.
    #[error("write refused: {0}")]
    Refused(String),
    /// The store's settings could lose data (Redis's eviction policy, its
    /// persistence).
    #[error("unsafe store settings: {0}")]
    Unsafe(String),
}

impl StoreError {
    pub fn database(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        StoreError::Database(Arc::from(e.into()))
    }

    pub fn corrupt(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        StoreError::Corrupt(Arc::from(e.into()))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The answer from one of the store's threads, `None` if it went away; see
/// `SqliteStore::open_with`.
async fn answer<T: Send + 'static>(
    rx: tokio::sync::oneshot::Receiver<T>,
    blocking: bool,
) -> Option<T> {
    if !blocking {
        return rx.await.ok();
    }
    tokio::task::spawn_blocking(move || rx.blocking_recv().ok())
        .await
        .ok()
        .flatten()
}

/// A job as first written: its state, its token's hash and where its input is.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub state: JobState,
    pub token_hash: TokenHash,
    pub token_expires_at: i64,
    /// The spooled input, kept until the job ends so a restart can resume it.
    pub input_path: Option<String>,
    /// Pipeline-specific parameters needed to resume (JSON).
    pub params: Value,
    /// An external job's publisher credential (docs/PROTOCOL.md §21).
    pub publisher: Option<TokenRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub hash: TokenHash,
    pub expires_at: i64,
    /// The token this one replaced: presenting it again is a lost refresh
    /// race (409), not an unknown token (401).
    pub previous: Option<TokenHash>,
}

/// A durable checkpoint: the state plus the output produced since the last one
/// and where the pipeline is, written in one transaction so they agree.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    pub state: Option<JobState>,
    pub cursor: u64,
    pub items: Vec<Item>,
    pub errors: Vec<RowError>,
    /// Events logged in the same transaction: the progress events sent
    /// since the previous checkpoint, and the terminal one.
    pub events: Vec<StoredEvent>,
    /// Event retention to trim to when `events` is not empty.
    pub retain: u64,
    /// Seqs up to here may be sent before the next checkpoint: a restart
    /// continues after it, so no seq a client saw is ever reused.
    pub seq_reserved: u64,
    /// Idempotency keys of published events among `events`, by seq.
    pub keys: Vec<(u64, String)>,
}

/// One output record as JSON text, with the stable work id by which a later
/// job (enrichment by `workIds`) can find it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Item {
    pub work_id: Option<String>,
    pub json: String,
}

impl Item {
    pub fn new(json: String) -> Item {
        Item {
            work_id: None,
            json,
        }
    }
}

/// An edition of the local catalog (loaded from Open Library dumps).
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    pub isbn13: String,
    /// `normalise::title_author_key` of its title and first author.
    pub title_key: String,
    pub json: String,
}

/// What a logged event is, said by the owner that built it (never guessed
/// from its JSON): a restart counts the progress events logged since the
/// last checkpoint to keep the write throttle's pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `job_progress`.
    Progress,
    /// `job_complete` or `error`: the job's last event.
    Terminal,
    /// Any other event (`job_started`, ...).
    Other,
}

impl EventKind {
    /// One letter per event in the SQLite log's `kinds` column.
    pub(crate) fn letter(self) -> char {
        match self {
            EventKind::Progress => 'p',
            EventKind::Terminal => 't',
            EventKind::Other => 'o',
        }
    }

    pub(crate) fn from_letter(c: char) -> Option<EventKind> {
        match c {
            'p' => Some(EventKind::Progress),
            't' => Some(EventKind::Terminal),
            'o' => Some(EventKind::Other),
            _ => None,
        }
    }

    /// For events logged before kinds were stored: read the envelope's type.
    pub(crate) fn of_json(json: &str) -> EventKind {
        #[derive(serde::Deserialize)]
        struct Head {
            #[serde(rename = "type")]
            kind: bookstrack_protocol::MessageType,
        }
        use bookstrack_protocol::MessageType as T;
        match serde_json::from_str::<Head>(json).map(|h| h.kind) {
            Ok(T::JobProgress) => EventKind::Progress,
            Ok(T::JobComplete | T::Error) => EventKind::Terminal,
            _ => EventKind::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: u64,
    pub kind: EventKind,
    pub json: String,
}

/// What a restart needs to pick an interrupted job back up.
#[derive(Debug, Clone)]
pub struct Unfinished {
    pub state: JobState,
    pub cursor: u64,
    pub input_path: Option<String>,
    pub params: Value,
    /// Highest seq logged or reserved: the next event continues after it.
    pub last_event_seq: u64,
    /// Progress events logged since the last checkpoint: the durable half of
    /// the write throttle (docs/PROTOCOL.md §5.4).
    pub updates_since_checkpoint: u64,
    /// The JSON of the newest event, to keep progress monotonic on resume.
    pub last_event: Option<String>,
    pub checkpointed_at: i64,
}

/// The three lists of a job's results, read page by page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputPart {
    Books,
    /// Rows merged into an earlier one (they carry `duplicateOfRow`).
    Duplicates,
    /// Row errors, as `{row, message}`.
    Errors,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobOutput {
    pub items: Vec<Value>,
    pub errors: Vec<RowError>,
}

/// How the backend's writes went, for `/metrics` and `bookstrack-bench persist`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    pub commits: u64,
    pub writes: u64,
    pub busy_us: u64,
}

/// What every backend of the job side implements (SQLite here; Redis for
/// several nodes): jobs, their state and checkpoints, the event log, output
/// and tokens. Everything a job's owner and its viewers need, nothing that
/// is a query over many jobs' data.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Totals since start; a backend that does not count reports zeros.
    fn write_stats(&self) -> WriteStats {
        WriteStats::default()
    }
    async fn create_job(&self, job: NewJob) -> StoreResult<()>;
    async fn job_state(&self, job_id: &str) -> StoreResult<Option<JobState>>;
    async fn token(&self, job_id: &str) -> StoreResult<Option<TokenRecord>>;
    /// The jobs whose current viewer token has one of these hashes, with
    /// its expiry: how a request's presented tokens name their jobs
    /// (`access/presented.rs`). A hash of a random 256-bit token is no
    /// secret to guard against timing, so it is looked up by index.
    async fn jobs_by_token(&self, hashes: Vec<TokenHash>) -> StoreResult<Vec<(String, i64)>>;
    /// Replaces the token only if `old` is still the current one; `false` when
    /// another refresh got there first.
    async fn replace_token(
        &self,
        job_id: &str,
        old: &TokenHash,
        new: &TokenHash,
        expires_at: i64,
    ) -> StoreResult<bool>;
    /// Appends one event and trims the log to the newest `retain` events.
    async fn append_event(&self, job_id: &str, event: StoredEvent, retain: u64) -> StoreResult<()>;
    /// Retained events with seq > `after`, oldest first, at most `limit`.
    async fn events_after(
        &self,
        job_id: &str,
        after: u64,
        limit: u64,
    ) -> StoreResult<Vec<StoredEvent>>;
    async fn checkpoint(&self, job_id: &str, cp: Checkpoint) -> StoreResult<()>;
    async fn output(&self, job_id: &str) -> StoreResult<Option<JobOutput>>;
    /// One page of `part`: rows with an index after `after`, oldest first,
    /// at most `limit`, as (index, JSON text).
    async fn output_page(
        &self,
        job_id: &str,
        part: OutputPart,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, String)>>;
    async fn unfinished(&self) -> StoreResult<Vec<Unfinished>>;
    /// Ended jobs whose end time is at or before `ended_before`.
    async fn ended_before(&self, ended_before: i64) -> StoreResult<Vec<String>>;
    /// The earliest end time of a job not yet deleted.
    async fn earliest_end(&self) -> StoreResult<Option<i64>>;
    async fn input_path(&self, job_id: &str) -> StoreResult<Option<String>>;
    /// Raises each job's acknowledged seq to the one given (never lowers it).
    async fn record_acks(&self, acks: Vec<(String, u64)>) -> StoreResult<()>;
    /// The highest seq a client acknowledged, if any did.
    async fn acked_seq(&self, job_id: &str) -> StoreResult<Option<u64>>;
    async fn delete_job(&self, job_id: &str) -> StoreResult<()>;
    /// An external job's publisher credential, kept like the viewers' token.
    async fn publisher_token(&self, job_id: &str) -> StoreResult<Option<TokenRecord>>;
    /// As [`JobStore::replace_token`], for the publisher's credential.
    async fn replace_publisher_token(
        &self,
        job_id: &str,
        old: &TokenHash,
        new: &TokenHash,
        expires_at: i64,
    ) -> StoreResult<bool>;
    /// The idempotency keys of the job's retained events, with their seqs.
    async fn publish_keys(&self, job_id: &str) -> StoreResult<Vec<(String, u64)>>;
}

/// Lookups over what many jobs and the operator stored: the enrichment
/// cache, the local catalog, the works index and the books a shelf photo is
/// matched against. Queries, not a job's log, so they stay on SQLite (its
/// indexes and `json_extract`) whatever backend the jobs use.
#[async_trait]
pub trait LookupStore: Send + Sync + 'static {
    /// Cached lookups by key; absent keys were never cached.
    async fn cache_get(&self, keys: Vec<String>) -> StoreResult<HashMap<String, String>>;
    async fn cache_put(&self, entries: Vec<(String, String)>) -> StoreResult<()>;
    async fn catalog_by_isbn(&self, isbn13s: Vec<String>) -> StoreResult<HashMap<String, String>>;
    async fn catalog_by_title(&self, title_key: String) -> StoreResult<Option<String>>;
    /// Adds or replaces editions; returns how many were written.
    async fn catalog_put(&self, entries: Vec<CatalogEntry>) -> StoreResult<u64>;
    /// Output records by work id of these ended jobs only (the newest
    /// job's record where several have it): a job's books are reachable
    /// only by whoever presents its token (docs/PROTOCOL.md §4.3).
    async fn works(
        &self,
        jobs: Vec<String>,
        ids: Vec<String>,
    ) -> StoreResult<HashMap<String, String>>;
    /// What a shelf photo is matched against, as JSON: the books of these
    /// ended jobs and the operator's catalog, at most `limit` of each. No
    /// other job's books and no enrichment answers (those would tell what
    /// other users own).
    async fn known_books(&self, jobs: Vec<String>, limit: u64) -> StoreResult<Vec<String>>;
}
