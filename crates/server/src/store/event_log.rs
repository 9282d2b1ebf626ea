//! The event log: a job's events as runs of consecutive seqs, one row per
//! run (one checkpoint's progress events, or one event logged ahead of its
//! send), trimmed to the retention window in whole runs.

use super::publisher;
use super::schema::db;
use super::*;
use rusqlite::{params, Connection};

/// The log keeps at least the newest `retain` events of a job and at most
/// `retain + TRIM_EVERY - 1`: whole runs are trimmed, and a run (one
/// checkpoint's events) is never longer than the owner's seq reservation.
pub const TRIM_EVERY: u64 = 64;

/// Logs events (ascending seqs) as runs of consecutive seqs, one row each,
/// and drops the runs that fell out of the retention window.
pub(super) fn insert_events(
    tx: &Connection,
    id: &str,
    events: &[StoredEvent],
    keys: &[(u64, String)],
    retain: u64,
) -> StoreResult<()> {
    let mut st = tx
        .prepare_cached(
            "INSERT INTO event_log (job_id, first_seq, last_seq, progress, json, kinds, keys) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(db)?;
    let mut rest = events;
    while let Some(first) = rest.first() {
        let len = rest
            .iter()
            .enumerate()
            .take_while(|(i, e)| e.seq == first.seq + *i as u64)
            .count();
        let (run, tail) = rest.split_at(len);
        let progress = run.iter().filter(|e| e.kind == EventKind::Progress).count();
        let kinds: String = run.iter().map(|e| e.kind.letter()).collect();
        let mut json = String::with_capacity(run.iter().map(|e| e.json.len() + 1).sum());
        for (i, e) in run.iter().enumerate() {
            debug_assert!(!e.json.contains('\n'), "compact JSON has no raw newline");
            if i > 0 {
                json.push('\n');
            }
            json.push_str(&e.json);
        }
        let last = run[run.len() - 1].seq;
        st.execute(params![
            id,
            first.seq as i64,
            last as i64,
            progress as i64,
            json,
            kinds,
            publisher::run_keys(run, keys)
        ])
        .map_err(db)?;
        rest = tail;
    }
    if let Some(newest) = events.last().map(|e| e.seq).filter(|s| *s > retain) {
        tx.prepare_cached("DELETE FROM event_log WHERE job_id = ?1 AND last_seq <= ?2")
            .map_err(db)?
            .execute(params![id, (newest - retain) as i64])
            .map_err(db)?;
    }
    Ok(())
}

/// Up to `limit` events after seq `after`, in seq order.
pub(super) fn after(
    c: &Connection,
    id: &str,
    after: u64,
    limit: u64,
) -> StoreResult<Vec<StoredEvent>> {
    let mut st = c
        .prepare_cached(
            "SELECT first_seq, json, kinds FROM event_log WHERE job_id = ?1 AND last_seq > ?2 ORDER BY last_seq",
        )
        .map_err(db)?;
    let mut rows = st.query(params![id, after as i64]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        let first = row.get::<_, i64>(0).map_err(db)? as u64;
        let json: String = row.get(1).map_err(db)?;
        let kinds: String = row.get(2).map_err(db)?;
        let mut kinds = kinds.chars();
        for (i, line) in json.split('\n').enumerate() {
            let kind = kinds.next().and_then(EventKind::from_letter);
            let seq = first + i as u64;
            if seq > after {
                if out.len() as u64 >= limit {
                    return Ok(out);
                }
                out.push(StoredEvent {
                    seq,
                    kind: kind.unwrap_or_else(|| EventKind::of_json(line)),
                    json: line.to_string(),
                });
            }
        }
    }
    Ok(out)
}
