//! A job's output: the books it produced and its row errors, appended by
//! each checkpoint in the order the pipeline produced them, and the `works`
//! index that enrichment by `workIds` reads.

use super::schema::db;
use super::*;
use rusqlite::{params, Connection, OptionalExtension};

/// Appends after what earlier checkpoints wrote.
pub(super) fn append(
    tx: &Connection,
    id: &str,
    items: &[Item],
    errors: &[RowError],
) -> StoreResult<()> {
    if !items.is_empty() {
        let next: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM items WHERE job_id = ?1",
                [id],
                |r| r.get(0),
            )
            .map_err(db)?;
        let mut st = tx
            .prepare_cached(
                "INSERT INTO items (job_id, idx, work_id, json) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(db)?;
        for (i, item) in items.iter().enumerate() {
            st.execute(params![id, next + i as i64, item.work_id, item.json])
                .map_err(db)?;
        }
    }
    if !errors.is_empty() {
        let next: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM row_errors WHERE job_id = ?1",
                [id],
                |r| r.get(0),
            )
            .map_err(db)?;
        let mut st = tx
            .prepare_cached(
                "INSERT INTO row_errors (job_id, idx, row_num, message) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(db)?;
        for (i, e) in errors.iter().enumerate() {
            st.execute(params![id, next + i as i64, e.row as i64, e.message])
                .map_err(db)?;
        }
    }
    Ok(())
}

/// Indexes a finished job's work ids in one sorted insert, rather than row
/// by row during the import (BENCHMARKS.md); the newest job's record of a
/// work wins.
pub(super) fn index_works(tx: &Connection, job_id: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO works (work_id, job_id, idx)
         SELECT work_id, job_id, idx FROM items
         WHERE job_id = ?1 AND work_id IS NOT NULL ORDER BY work_id",
    )
    .map_err(db)?
    .execute([job_id])
    .map_err(db)?;
    Ok(())
}

/// `None` if the job does not exist.
pub(super) fn read(c: &Connection, id: &str) -> StoreResult<Option<JobOutput>> {
    let exists: Option<i64> = c
        .query_row("SELECT 1 FROM jobs WHERE job_id = ?1", [id], |r| r.get(0))
        .optional()
        .map_err(db)?;
    if exists.is_none() {
        return Ok(None);
    }
    let mut st = c
        .prepare_cached("SELECT json FROM items WHERE job_id = ?1 ORDER BY idx")
        .map_err(db)?;
    let items = st
        .query_map([id], |r| r.get::<_, String>(0))
        .map_err(db)?
        .map(|r| {
            let s = r.map_err(db)?;
            serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect::<StoreResult<Vec<Value>>>()?;
    let mut st = c
        .prepare_cached("SELECT row_num, message FROM row_errors WHERE job_id = ?1 ORDER BY idx")
        .map_err(db)?;
    let errors = st
        .query_map([id], |r| {
            Ok(RowError {
                row: r.get::<_, i64>(0)? as u64,
                message: r.get(1)?,
            })
        })
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    Ok(Some(JobOutput { items, errors }))
}
