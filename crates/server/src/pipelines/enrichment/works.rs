//! Enrichment by `workIds`: the books of earlier imports (or scans), found
//! by their stable work id in the works index, as queries.

use super::Query;
use crate::store::{LookupStore, StoreError};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum WorksError {
    #[error("unknown work ids: {}", .0.join(", "))]
    Unknown(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One query per id, in the order given; every id must be a work of one of
/// `jobs` (those whose tokens the request presented): an id of any other
/// job is as unknown as one that never existed.
pub async fn queries(
    lookups: &dyn LookupStore,
    jobs: &[String],
    ids: &[String],
) -> Result<Vec<Query>, WorksError> {
    let found = if jobs.is_empty() {
        Default::default()
    } else {
        lookups.works(jobs.to_vec(), ids.to_vec()).await?
    };
    let unknown: Vec<String> = ids
        .iter()
        .filter(|w| !found.contains_key(*w))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(WorksError::Unknown(unknown));
    }
    ids.iter()
        .map(|w| {
            let v: Value = serde_json::from_str(&found[w]).map_err(StoreError::corrupt)?;
            Ok(query_of(&v, w))
        })
        .collect()
}

/// Imported books carry `isbn13`/`isbn10`, detected ones `isbn`.
fn query_of(record: &Value, work_id: &str) -> Query {
    let s = |k: &str| record.get(k).and_then(Value::as_str).map(str::to_string);
    Query {
        title: s("title").unwrap_or_default(),
        author: s("author"),
        isbn: s("isbn13").or_else(|| s("isbn10")).or_else(|| s("isbn")),
        work_id: Some(work_id.to_string()),
    }
}
