//! A job's output: the books it produced and its row errors, appended by
//! each checkpoint in the order the pipeline produced them, and the `works`
//! index that enrichment by `workIds` reads.

use super::schema::db;
use super::*;
use rusqlite::{params, CachedStatement, Connection, OptionalExtension};

/// Appends after what earlier checkpoints wrote.
pub(super) fn append(
    tx: &Connection,
    id: &str,
    items: &[Item],
    errors: &[RowError],
) -> StoreResult<()> {
    append_rows(
        tx,
        id,
        "items",
        "INSERT INTO items (job_id, idx, work_id, json) VALUES (?1, ?2, ?3, ?4)",
        items,
        |st, idx, item| st.execute(params![id, idx, item.work_id, item.json]),
    )?;
    append_rows(
        tx,
        id,
        "row_errors",
        "INSERT INTO row_errors (job_id, idx, row_num, message) VALUES (?1, ?2, ?3, ?4)",
        errors,
        |st, idx, e| st.execute(params![id, idx, e.row as i64, e.message]),
    )
}

/// Inserts a job's `rows` into `table` (a name from this module, never
/// input) at the indexes after its last one, each through `insert`.
fn append_rows<T>(
    tx: &Connection,
    id: &str,
    table: &str,
    insert: &str,
    rows: &[T],
    mut row: impl FnMut(&mut CachedStatement<'_>, i64, &T) -> rusqlite::Result<usize>,
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let next: i64 = tx
        .prepare_cached(&format!(
            "SELECT COALESCE(MAX(idx) + 1, 0) FROM {table} WHERE job_id = ?1"
        ))
        .and_then(|mut st| st.query_row([id], |r| r.get(0)))
        .map_err(db)?;
    let mut st = tx.prepare_cached(insert).map_err(db)?;
    for (i, r) in rows.iter().enumerate() {
        row(&mut st, next + i as i64, r).map_err(db)?;
    }
    Ok(())
}

/// Indexes a finished job's work ids in one sorted insert, rather than row
/// by row during the import (`docs/perf-notes.md`); by job, so that a
/// lookup names the jobs whose tokens were presented.
pub(super) fn index_works(tx: &Connection, job_id: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO job_works (job_id, work_id, idx)
         SELECT job_id, work_id, idx FROM items
         WHERE job_id = ?1 AND work_id IS NOT NULL ORDER BY work_id, idx",
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
            serde_json::from_str(&s).map_err(StoreError::corrupt)
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

/// One page of a job's output for `GET /api/jobs/{id}/results`, streamed
/// page by page (`http/results.rs`) so an answer's memory does not grow with
/// the job: the rows of `part` with an index after `after`, oldest first, at
/// most `limit`, each as JSON text.
pub(super) fn read_page(
    c: &Connection,
    id: &str,
    part: OutputPart,
    after: i64,
    limit: u32,
) -> StoreResult<Vec<(i64, String)>> {
    // A merged row is one with a `duplicateOfRow` key (any value), as the
    // whole-output read partitioned them.
    let sql = match part {
        OutputPart::Books => {
            "SELECT idx, json FROM items WHERE job_id = ?1 AND idx > ?2
             AND json_type(json, '$.duplicateOfRow') IS NULL ORDER BY idx LIMIT ?3"
        }
        OutputPart::Duplicates => {
            "SELECT idx, json FROM items WHERE job_id = ?1 AND idx > ?2
             AND json_type(json, '$.duplicateOfRow') IS NOT NULL ORDER BY idx LIMIT ?3"
        }
        OutputPart::Errors => {
            "SELECT idx, row_num, message FROM row_errors WHERE job_id = ?1 AND idx > ?2
             ORDER BY idx LIMIT ?3"
        }
    };
    let mut st = c.prepare_cached(sql).map_err(db)?;
    let rows = st
        .query_map(params![id, after, limit], |r| {
            let idx: i64 = r.get(0)?;
            if part == OutputPart::Errors {
                let e = RowError {
                    row: r.get::<_, i64>(1)? as u64,
                    message: r.get(2)?,
                };
                Ok((idx, serde_json::to_string(&e).unwrap_or_default()))
            } else {
                Ok((idx, r.get::<_, String>(1)?))
            }
        })
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    Ok(rows)
}
