//! What the SQLite backend keeps for external jobs (docs/PROTOCOL.md §21):
//! the publisher's credential, beside the viewers' token and read the same
//! way, and the idempotency keys of published events, one line per event
//! in the event log's `keys` column, so that a key lives exactly as long as
//! its event is retained.

use super::schema::db;
use super::*;
use rusqlite::{params, Connection, OptionalExtension};

/// Which credential of a job: the viewers' token or the publisher's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRole {
    Viewer,
    Publisher,
}

impl TokenRole {
    fn table(self) -> &'static str {
        match self {
            TokenRole::Viewer => "tokens",
            TokenRole::Publisher => "publisher_tokens",
        }
    }
}

pub(super) fn read_token(
    c: &Connection,
    role: TokenRole,
    id: &str,
) -> StoreResult<Option<TokenRecord>> {
    let sql = format!(
        "SELECT hash, expires_at, previous_hash FROM {} WHERE job_id = ?1",
        role.table()
    );
    let row: Option<(Vec<u8>, i64, Option<Vec<u8>>)> = c
        .prepare_cached(&sql)
        .map_err(db)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(db)?;
    let to_hash = |h: Vec<u8>| -> StoreResult<TokenHash> {
        h.try_into()
            .map_err(|_| StoreError::corrupt("a token hash is not 32 bytes"))
    };
    row.map(|(h, expires_at, prev)| {
        Ok(TokenRecord {
            hash: to_hash(h)?,
            expires_at,
            previous: prev.map(to_hash).transpose()?,
        })
    })
    .transpose()
}

pub(super) fn insert_token(
    c: &Connection,
    role: TokenRole,
    id: &str,
    hash: &TokenHash,
    expires_at: i64,
) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO {} (job_id, hash, expires_at) VALUES (?1, ?2, ?3)",
        role.table()
    );
    c.execute(&sql, params![id, &hash[..], expires_at])
        .map_err(db)?;
    Ok(())
}

/// Replaces the credential only if `old` is still the current one.
pub(super) fn replace_token(
    c: &Connection,
    role: TokenRole,
    id: &str,
    old: &TokenHash,
    new: &TokenHash,
    expires_at: i64,
) -> StoreResult<bool> {
    let sql = format!(
        "UPDATE {} SET hash = ?1, expires_at = ?2, previous_hash = ?4
         WHERE job_id = ?3 AND hash = ?4",
        role.table()
    );
    let n = c
        .execute(&sql, params![&new[..], expires_at, id, &old[..]])
        .map_err(db)?;
    Ok(n == 1)
}

/// The `keys` column of one run of the event log: a line per event, empty
/// for an event without a key; '' for a run with none at all.
pub(super) fn run_keys(run: &[StoredEvent], keys: &[(u64, String)]) -> String {
    if keys.is_empty() {
        return String::new();
    }
    let lines: Vec<&str> = run
        .iter()
        .map(|e| {
            keys.iter()
                .find(|(seq, _)| *seq == e.seq)
                .map_or("", |(_, k)| k.as_str())
        })
        .collect();
    if lines.iter().all(|l| l.is_empty()) {
        String::new()
    } else {
        lines.join("\n")
    }
}

/// The idempotency keys of a job's retained events, with their seqs.
pub(super) fn keys(c: &Connection, id: &str) -> StoreResult<Vec<(String, u64)>> {
    let mut st = c
        .prepare_cached(
            "SELECT first_seq, keys FROM event_log WHERE job_id = ?1 AND keys != '' ORDER BY last_seq",
        )
        .map_err(db)?;
    let mut rows = st.query([id]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        let first = row.get::<_, i64>(0).map_err(db)? as u64;
        let keys: String = row.get(1).map_err(db)?;
        for (i, k) in keys.split('\n').enumerate() {
            if !k.is_empty() {
                out.push((k.to_string(), first + i as u64));
            }
        }
    }
    Ok(out)
}
