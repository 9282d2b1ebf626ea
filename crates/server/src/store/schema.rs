//! The SQLite schema and how each connection is opened: WAL,
//! synchronous=NORMAL, foreign keys on.

use super::*;
use rusqlite::Connection;
use std::path::Path;

pub(super) const SCHEMA: &str = "
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
-- appends pages instead of touching one page per job (BENCHMARKS.md).
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
-- puts random-key inserts on every checkpoint (BENCHMARKS.md).
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

pub(super) fn db<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Database(e.to_string())
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

/// Columns added since the first release, for data dirs made before them.
pub(super) fn migrate(c: &Connection) -> StoreResult<()> {
    let has = |col: &str| -> StoreResult<bool> {
        c.prepare("SELECT 1 FROM pragma_table_info('jobs') WHERE name = ?1")
            .and_then(|mut st| st.exists([col]))
            .map_err(db)
    };
    // The per-event table of the first release: its jobs resume with a
    // `job_state` snapshot instead of a replay.
    c.execute_batch("DROP TABLE IF EXISTS events").map_err(db)?;
    if !has("seq_reserved")? {
        c.execute_batch("ALTER TABLE jobs ADD COLUMN seq_reserved INTEGER NOT NULL DEFAULT 0")
            .map_err(db)?;
    }
    Ok(())
}

pub(super) fn parse_state(s: &str) -> StoreResult<JobState> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}
