//! The SQLite schema and how each connection is opened: WAL,
//! synchronous=NORMAL, foreign keys on.

use super::*;
use rusqlite::Connection;
use std::path::Path;

/// The first versioned schema. `IF NOT EXISTS` throughout: a data dir from
/// before versioning (user_version 0) already has some of these tables.
const V1_TABLES: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    status TEXT NOT NULL,
    end_time INTEGER,
    cursor INTEGER NOT NULL DEFAULT 0,
    input_path TEXT,
    params TEXT NOT NULL DEFAULT 'null',
    checkpointed_at INTEGER NOT NULL,
    seq_reserved INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_end ON jobs(end_time) WHERE end_time IS NOT NULL;
CREATE TABLE IF NOT EXISTS tokens (
    job_id TEXT PRIMARY KEY,
    hash BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    previous_hash BLOB
);
-- The event log: each row a run of consecutive events (those of one
-- checkpoint), one JSON text per line. Rows go in rowid order, so a commit
-- appends pages instead of touching one page per job (`docs/perf-notes.md`).
CREATE TABLE IF NOT EXISTS event_log (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    progress INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS event_log_job ON event_log(job_id, last_seq);
CREATE TABLE IF NOT EXISTS items (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    work_id TEXT,
    json TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
-- Work ids, indexed once per job when it ends: indexing them row by row
-- puts random-key inserts on every checkpoint (`docs/perf-notes.md`).
CREATE TABLE IF NOT EXISTS works (
    work_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS enrich_cache (
    key TEXT PRIMARY KEY,
    json TEXT NOT NULL,
    fetched_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS catalog (
    isbn13 TEXT PRIMARY KEY,
    title_key TEXT NOT NULL,
    json TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS catalog_title ON catalog(title_key);
CREATE TABLE IF NOT EXISTS row_errors (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    row_num INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
";

/// A backend error kept as the source of a [`StoreError::Database`].
pub(super) fn db<E: Into<Box<dyn std::error::Error + Send + Sync>>>(e: E) -> StoreError {
    StoreError::database(e)
}

/// Prepared statements kept per connection: more than the store's distinct
/// cached statements, so that none is parsed again (rusqlite keeps 16).
const STATEMENT_CACHE: usize = 64;

pub(super) fn open(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(db)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(db)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db)?;
    Ok(conn)
}

/// The schema's versions, in order: a data dir at `PRAGMA user_version` n
/// runs migrations n.. and ends at `MIGRATIONS.len()`. Append, never edit:
/// a data dir already past a step never runs it again.
const MIGRATIONS: &[fn(&Connection) -> rusqlite::Result<()>] = &[
    v1_tables,
    v2_seq_reservation,
    v3_event_kinds,
    v4_publishers,
    v5_acks,
    v6_job_works,
];

fn v1_tables(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(V1_TABLES)
}

/// Drops the per-event table of the first release (its jobs resume with a
/// `job_state` snapshot instead of a replay) and adds the seq reservation to
/// data dirs made before it.
fn v2_seq_reservation(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch("DROP TABLE IF EXISTS events")?;
    let has = c
        .prepare("SELECT 1 FROM pragma_table_info('jobs') WHERE name = 'seq_reserved'")?
        .exists([])?;
    if !has {
        c.execute_batch("ALTER TABLE jobs ADD COLUMN seq_reserved INTEGER NOT NULL DEFAULT 0")?;
    }
    Ok(())
}

/// Each run of the event log says the kind of each of its events, one
/// letter each (`EventKind::letter`); older runs have '' and are read by
/// their JSON's type.
fn v3_event_kinds(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch("ALTER TABLE event_log ADD COLUMN kinds TEXT NOT NULL DEFAULT ''")
}

/// External jobs (docs/PROTOCOL.md §21): the publisher's credential, and
/// the idempotency keys of the events it published, one line per event of
/// a run like `kinds` ('' for a run without any).
fn v4_publishers(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "ALTER TABLE event_log ADD COLUMN keys TEXT NOT NULL DEFAULT '';
         CREATE TABLE publisher_tokens (
            job_id TEXT PRIMARY KEY,
            hash BLOB NOT NULL,
            expires_at INTEGER NOT NULL,
            previous_hash BLOB
         );",
    )
}

/// Acknowledgements (docs/PROTOCOL.md §22): the highest seq a client
/// acknowledged, beside the state the owner writes, so that neither
/// overwrites the other.
fn v5_acks(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch("ALTER TABLE jobs ADD COLUMN acked_seq INTEGER")
}

/// Work ids indexed by job rather than server-wide, so that enrichment by
/// `workIds` and a scan's matching reach only the jobs whose tokens a
/// request presents (issue 17); tokens indexed by hash, to find those jobs.
fn v6_job_works(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "CREATE TABLE job_works (
            job_id TEXT NOT NULL,
            work_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            PRIMARY KEY (job_id, work_id)
         ) WITHOUT ROWID;
         INSERT OR REPLACE INTO job_works (job_id, work_id, idx)
            SELECT i.job_id, i.work_id, i.idx FROM items i JOIN jobs j ON j.job_id = i.job_id
            WHERE j.end_time IS NOT NULL AND i.work_id IS NOT NULL
            ORDER BY i.job_id, i.work_id, i.idx;
         DROP TABLE IF EXISTS works;
         CREATE INDEX IF NOT EXISTS tokens_hash ON tokens(hash);",
    )
}

/// Brings the database to the newest schema, one transaction per step, so
/// a crash mid-migration leaves a version that the next start continues
/// from. Refuses a database written by a newer build.
pub(super) fn migrate(c: &mut Connection) -> StoreResult<()> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db)?;
    if found > known {
        return Err(StoreError::NewerSchema { found, known });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = c.transaction().map_err(db)?;
        step(&tx).map_err(db)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

pub(super) fn parse_state(s: &str) -> StoreResult<JobState> {
    serde_json::from_str(s).map_err(StoreError::corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventKind, JobStore, SqliteStore};

    /// A data dir from before versioning: `user_version` 0, no seq
    /// reservation, no event kinds, and the first release's `events` table.
    fn legacy(path: &Path) {
        let c = Connection::open(path).unwrap();
        c.execute_batch(
            "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, state TEXT NOT NULL, status TEXT NOT NULL,
                end_time INTEGER, cursor INTEGER NOT NULL DEFAULT 0, input_path TEXT,
                params TEXT NOT NULL DEFAULT 'null', checkpointed_at INTEGER NOT NULL);
             CREATE TABLE events (job_id TEXT, seq INTEGER, json TEXT);
             CREATE TABLE event_log (id INTEGER PRIMARY KEY, job_id TEXT NOT NULL,
                first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
                progress INTEGER NOT NULL, json TEXT NOT NULL);
             INSERT INTO event_log (job_id, first_seq, last_seq, progress, json) VALUES
                ('a', 1, 2, 1, '{\"type\":\"job_started\"}' || char(10) || '{\"type\":\"job_progress\"}');",
        )
        .unwrap();
    }

    fn version(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test]
    async fn a_new_database_starts_at_the_newest_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        drop(SqliteStore::open(&path).unwrap());
        assert_eq!(version(&path), schema_version());
        // Opening again runs nothing and changes nothing.
        drop(SqliteStore::open(&path).unwrap());
        assert_eq!(version(&path), schema_version());
    }

    #[tokio::test]
    async fn a_database_from_before_versioning_is_migrated_and_keeps_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        legacy(&path);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(version(&path), schema_version());
        let events = store.events_after("a", 0, 10).await.unwrap();
        let kinds: Vec<_> = events.iter().map(|e| (e.seq, e.kind)).collect();
        assert_eq!(
            kinds,
            vec![(1, EventKind::Other), (2, EventKind::Progress)],
            "kinds of events logged before they were stored come from their type"
        );
        let c = Connection::open(&path).unwrap();
        let old_table: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'events'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old_table, 0);
        assert!(c.prepare("SELECT seq_reserved FROM jobs").is_ok());
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", schema_version() + 1)
            .unwrap();
        match SqliteStore::open(&path) {
            Err(StoreError::NewerSchema { found, known }) => {
                assert_eq!((found, known), (schema_version() + 1, schema_version()));
            }
            other => panic!("expected NewerSchema, got {:?}", other.err()),
        }
    }
}
