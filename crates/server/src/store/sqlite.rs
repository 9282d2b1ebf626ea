//! The embedded backend: SQLite in WAL mode with synchronous=NORMAL, one
//! writer connection on its own thread (group commit, `writer.rs`) and
//! reader connections on threads of their own (`reader.rs`), so a slow disk
//! never stalls the async workers.

use super::event_log::{self, insert_events};
use super::output;
use super::publisher::{self, TokenRole};
use super::reader::{Reader, READER_THREADS};
use super::schema::{db, migrate, open, parse_state};
use super::writer::Writer;
use super::*;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Arc;

#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Writer>,
    reader: Arc<Reader>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        Self::open_with(path, false)
    }

    /// `blocking_waits`: wait for the store's threads on tokio's blocking
    /// pool. Only for tests under tokio's paused clock, which otherwise
    /// leaps ahead while a task waits on a thread tokio cannot see; it costs
    /// a pool thread per waiting call.
    pub fn open_with(path: &Path, blocking_waits: bool) -> StoreResult<SqliteStore> {
        let mut writer = open(path)?;
        migrate(&mut writer)?;
        let readers = (0..READER_THREADS)
            .map(|_| open(path))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(SqliteStore {
            writer: Arc::new(Writer::spawn(writer, open(path)?, blocking_waits)?),
            reader: Arc::new(Reader::spawn(readers, blocking_waits)?),
        })
    }

    /// Runs `f` in the next group commit; answers once that has committed.
    pub(super) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.writer.write(f).await
    }

    pub(super) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.reader.read(f).await
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    fn write_stats(&self) -> WriteStats {
        self.writer.stats()
    }

    async fn create_job(&self, job: NewJob) -> StoreResult<()> {
        self.write(move |tx| {
            let state = serde_json::to_string(&job.state).map_err(db)?;
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO jobs (job_id, state, status, end_time, input_path, params, checkpointed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        job.state.job_id,
                        state,
                        job.state.status.as_str(),
                        job.state.end_time,
                        job.input_path,
                        job.params.to_string(),
                        job.state.start_time
                    ],
                )
                .map_err(db)?;
            if inserted == 0 {
                return Err(StoreError::Duplicate(job.state.job_id.clone()));
            }
            let id = &job.state.job_id;
            publisher::insert_token(tx, TokenRole::Viewer, id, &job.token_hash, job.token_expires_at)?;
            if let Some(p) = &job.publisher {
                publisher::insert_token(tx, TokenRole::Publisher, id, &p.hash, p.expires_at)?;
            }
            Ok(())
        })
        .await
    }

    async fn job_state(&self, job_id: &str) -> StoreResult<Option<JobState>> {
        let id = job_id.to_string();
        self.read(move |c| {
            let s: Option<(String, Option<i64>)> = c
                .query_row(
                    "SELECT state, acked_seq FROM jobs WHERE job_id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            s.map(|(s, acked)| {
                let mut state = parse_state(&s)?;
                state.acked_seq = acked.map(|a| a as u64);
                Ok(state)
            })
            .transpose()
        })
        .await
    }

    async fn token(&self, job_id: &str) -> StoreResult<Option<TokenRecord>> {
        let id = job_id.to_string();
        self.read(move |c| publisher::read_token(c, TokenRole::Viewer, &id))
            .await
    }

    async fn jobs_by_token(&self, hashes: Vec<TokenHash>) -> StoreResult<Vec<(String, i64)>> {
        self.read(move |c| {
            let mut st = c
                .prepare_cached("SELECT job_id, expires_at FROM tokens WHERE hash = ?1")
                .map_err(db)?;
            let mut out = Vec::new();
            for h in &hashes {
                let rows = st
                    .query_map([&h[..]], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db)?;
                for r in rows {
                    out.push(r.map_err(db)?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn replace_token(
        &self,
        job_id: &str,
        old: &TokenHash,
        new: &TokenHash,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let (id, old, new) = (job_id.to_string(), *old, *new);
        self.write(move |c| {
            publisher::replace_token(c, TokenRole::Viewer, &id, &old, &new, expires_at)
        })
        .await
    }

    async fn publisher_token(&self, job_id: &str) -> StoreResult<Option<TokenRecord>> {
        let id = job_id.to_string();
        self.read(move |c| publisher::read_token(c, TokenRole::Publisher, &id))
            .await
    }

    async fn replace_publisher_token(
        &self,
        job_id: &str,
        old: &TokenHash,
        new: &TokenHash,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let (id, old, new) = (job_id.to_string(), *old, *new);
        self.write(move |c| {
            publisher::replace_token(c, TokenRole::Publisher, &id, &old, &new, expires_at)
        })
        .await
    }

    async fn publish_keys(&self, job_id: &str) -> StoreResult<Vec<(String, u64)>> {
        let id = job_id.to_string();
        self.read(move |c| publisher::keys(c, &id)).await
    }

    async fn append_event(&self, job_id: &str, event: StoredEvent, retain: u64) -> StoreResult<()> {
        let id = job_id.to_string();
        self.write(move |c| insert_events(c, &id, &[event], &[], retain))
            .await
    }

    async fn events_after(
        &self,
        job_id: &str,
        after: u64,
        limit: u64,
    ) -> StoreResult<Vec<StoredEvent>> {
        let id = job_id.to_string();
        self.read(move |c| event_log::after(c, &id, after, limit))
            .await
    }

    async fn checkpoint(&self, job_id: &str, cp: Checkpoint) -> StoreResult<()> {
        let id = job_id.to_string();
        self.write(move |tx| {
            insert_events(tx, &id, &cp.events, &cp.keys, cp.retain)?;
            output::append(tx, &id, &cp.items, &cp.errors)?;
            if let Some(state) = cp.state.as_ref().filter(|s| s.status.is_terminal()) {
                output::index_works(tx, &state.job_id)?;
            }
            if let Some(state) = &cp.state {
                let json = serde_json::to_string(state).map_err(db)?;
                let input_cleared = state.status.is_terminal();
                // Cached: every checkpoint of every job runs it.
                tx.prepare_cached(
                    "UPDATE jobs SET state = ?2, status = ?3, end_time = ?4, cursor = ?5,
                        checkpointed_at = ?6,
                        input_path = CASE WHEN ?7 THEN NULL ELSE input_path END,
                        seq_reserved = ?8
                     WHERE job_id = ?1",
                )
                .map_err(db)?
                .execute(params![
                    id,
                    json,
                    state.status.as_str(),
                    state.end_time,
                    cp.cursor as i64,
                    crate::clock::now_ms(),
                    input_cleared,
                    cp.seq_reserved as i64
                ])
                .map_err(db)?;
            }
            Ok(())
        })
        .await
    }

    async fn output(&self, job_id: &str) -> StoreResult<Option<JobOutput>> {
        let id = job_id.to_string();
        self.read(move |c| output::read(c, &id)).await
    }

    async fn output_page(
        &self,
        job_id: &str,
        part: OutputPart,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, String)>> {
        let id = job_id.to_string();
        self.read(move |c| output::read_page(c, &id, part, after, limit))
            .await
    }

    async fn unfinished(&self) -> StoreResult<Vec<Unfinished>> {
        self.read(|c| {
            let mut st = c
                .prepare(
                    "SELECT j.state, j.cursor, j.input_path, j.params, j.checkpointed_at,
                        MAX(j.seq_reserved, (SELECT COALESCE(MAX(last_seq), 0) FROM event_log e WHERE e.job_id = j.job_id)),
                        (SELECT json FROM event_log e WHERE e.job_id = j.job_id ORDER BY last_seq DESC LIMIT 1)
                     FROM jobs j WHERE j.status IN ('queued', 'running')",
                )
                .map_err(db)?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ))
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            let mut out = Vec::with_capacity(rows.len());
            for (state, cursor, input_path, params, checkpointed_at, last_seq, last_event) in rows {
                let state = parse_state(&state)?;
                let updates: i64 = c
                    .query_row(
                        "SELECT COALESCE(SUM(progress), 0) FROM event_log WHERE job_id = ?1 AND first_seq > ?2",
                        params![state.job_id, state.last_seq as i64],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                // The newest run's last line is the newest event.
                let last_event = last_event.and_then(|j| j.rsplit('\n').next().map(str::to_string));
                out.push(Unfinished {
                    cursor: cursor as u64,
                    input_path,
                    params: serde_json::from_str(&params).unwrap_or(Value::Null),
                    last_event_seq: last_seq as u64,
                    updates_since_checkpoint: updates as u64,
                    last_event,
                    checkpointed_at,
                    state,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn ended_before(&self, ended_before: i64) -> StoreResult<Vec<String>> {
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT job_id FROM jobs WHERE end_time IS NOT NULL AND end_time <= ?1",
                )
                .map_err(db)?;
            let ids = st
                .query_map([ended_before], |r| r.get(0))
                .map_err(db)?
                .collect::<Result<Vec<String>, _>>()
                .map_err(db)?;
            Ok(ids)
        })
        .await
    }

    async fn earliest_end(&self) -> StoreResult<Option<i64>> {
        self.read(|c| {
            c.query_row(
                "SELECT MIN(end_time) FROM jobs WHERE end_time IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .map_err(db)
        })
        .await
    }

    async fn input_path(&self, job_id: &str) -> StoreResult<Option<String>> {
        let id = job_id.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT input_path FROM jobs WHERE job_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?
            .flatten())
        })
        .await
    }

    async fn record_acks(&self, acks: Vec<(String, u64)>) -> StoreResult<()> {
        self.write(move |tx| {
            let mut st = tx
                .prepare_cached(
                    "UPDATE jobs SET acked_seq = MAX(COALESCE(acked_seq, 0), ?2) WHERE job_id = ?1",
                )
                .map_err(db)?;
            for (id, seq) in &acks {
                st.execute(params![id, *seq as i64]).map_err(db)?;
            }
            Ok(())
        })
        .await
    }

    async fn acked_seq(&self, job_id: &str) -> StoreResult<Option<u64>> {
        let id = job_id.to_string();
        self.read(move |c| {
            let v: Option<Option<i64>> = c
                .query_row("SELECT acked_seq FROM jobs WHERE job_id = ?1", [&id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db)?;
            Ok(v.flatten().map(|a| a as u64))
        })
        .await
    }

    async fn delete_job(&self, job_id: &str) -> StoreResult<()> {
        let id = job_id.to_string();
        self.write(move |tx| {
            for table in [
                "event_log",
                "job_works",
                "items",
                "row_errors",
                "tokens",
                "publisher_tokens",
                "jobs",
            ] {
                tx.execute(&format!("DELETE FROM {table} WHERE job_id = ?1"), [&id])
                    .map_err(db)?;
            }
            Ok(())
        })
        .await
    }
}
