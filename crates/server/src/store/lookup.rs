//! The SQLite side of enrichment: the lookup cache, the local catalog and
//! keyed reads, kept apart from the job tables' code.

use super::schema::db;
use super::{CatalogEntry, LookupStore, SqliteStore, StoreResult};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use std::collections::HashMap;

impl SqliteStore {
    /// Runs a one-parameter query returning one text column for each key;
    /// keys with no row are absent from the map.
    pub(super) async fn lookup_many(
        &self,
        sql: &'static str,
        keys: Vec<String>,
    ) -> StoreResult<HashMap<String, String>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(sql).map_err(db)?;
            let mut out = HashMap::with_capacity(keys.len());
            for k in keys {
                if let Some(v) = st
                    .query_row([&k], |r| r.get::<_, String>(0))
                    .optional()
                    .map_err(db)?
                {
                    out.insert(k, v);
                }
            }
            Ok(out)
        })
        .await
    }

    pub(super) async fn known(&self, jobs: Vec<String>, limit: u64) -> StoreResult<Vec<String>> {
        self.read(move |c| {
            let mut out = Vec::new();
            let mut st = c
                .prepare_cached(
                    "SELECT i.json FROM job_works w JOIN items i ON i.job_id = w.job_id AND i.idx = w.idx
                     WHERE w.job_id = ?1 LIMIT ?2",
                )
                .map_err(db)?;
            for job in &jobs {
                let left = limit.saturating_sub(out.len() as u64);
                let rows = st
                    .query_map(params![job, left as i64], |r| r.get::<_, String>(0))
                    .map_err(db)?;
                for r in rows {
                    out.push(r.map_err(db)?);
                }
            }
            let mut st = c
                .prepare_cached("SELECT json FROM catalog LIMIT ?1")
                .map_err(db)?;
            let rows = st
                .query_map([limit as i64], |r| r.get::<_, String>(0))
                .map_err(db)?;
            for r in rows {
                out.push(r.map_err(db)?);
            }
            Ok(out)
        })
        .await
    }

    /// Each id's record in the newest of `jobs` that has it (job ids are
    /// UUIDv7: the newest sorts last).
    pub(super) async fn works_of(
        &self,
        mut jobs: Vec<String>,
        ids: Vec<String>,
    ) -> StoreResult<HashMap<String, String>> {
        jobs.sort_unstable_by(|a, b| b.cmp(a));
        jobs.dedup();
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT i.json FROM job_works w JOIN items i ON i.job_id = w.job_id AND i.idx = w.idx
                     WHERE w.job_id = ?1 AND w.work_id = ?2",
                )
                .map_err(db)?;
            let mut out = HashMap::with_capacity(ids.len());
            for id in ids {
                for job in &jobs {
                    if let Some(v) = st
                        .query_row(params![job, &id], |r| r.get::<_, String>(0))
                        .optional()
                        .map_err(db)?
                    {
                        out.insert(id, v);
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    pub(super) async fn put_cache(&self, entries: Vec<(String, String)>) -> StoreResult<()> {
        let now = crate::clock::now_ms();
        self.write(move |tx| {
            {
                let mut st = tx
                    .prepare_cached("INSERT OR REPLACE INTO enrich_cache (key, json, fetched_at) VALUES (?1, ?2, ?3)")
                    .map_err(db)?;
                for (k, v) in &entries {
                    st.execute(params![k, v, now]).map_err(db)?;
                }
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn put_catalog(&self, entries: Vec<CatalogEntry>) -> StoreResult<u64> {
        self.write(move |tx| {
            let mut n = 0;
            {
                let mut st = tx
                    .prepare_cached("INSERT OR REPLACE INTO catalog (isbn13, title_key, json) VALUES (?1, ?2, ?3)")
                    .map_err(db)?;
                for e in &entries {
                    n += st.execute(params![e.isbn13, e.title_key, e.json]).map_err(db)? as u64;
                }
            }
            Ok(n)
        })
        .await
    }
}

#[async_trait]
impl LookupStore for SqliteStore {
    async fn cache_get(&self, keys: Vec<String>) -> StoreResult<HashMap<String, String>> {
        self.lookup_many("SELECT json FROM enrich_cache WHERE key = ?1", keys)
            .await
    }

    async fn cache_put(&self, entries: Vec<(String, String)>) -> StoreResult<()> {
        self.put_cache(entries).await
    }

    async fn catalog_by_isbn(&self, isbn13s: Vec<String>) -> StoreResult<HashMap<String, String>> {
        self.lookup_many("SELECT json FROM catalog WHERE isbn13 = ?1", isbn13s)
            .await
    }

    async fn catalog_by_title(&self, title_key: String) -> StoreResult<Option<String>> {
        Ok(self
            .lookup_many(
                "SELECT json FROM catalog WHERE title_key = ?1 LIMIT 1",
                vec![title_key],
            )
            .await?
            .into_values()
            .next())
    }

    async fn catalog_put(&self, entries: Vec<CatalogEntry>) -> StoreResult<u64> {
        self.put_catalog(entries).await
    }

    async fn known_books(&self, jobs: Vec<String>, limit: u64) -> StoreResult<Vec<String>> {
        self.known(jobs, limit).await
    }

    async fn works(
        &self,
        jobs: Vec<String>,
        ids: Vec<String>,
    ) -> StoreResult<HashMap<String, String>> {
        self.works_of(jobs, ids).await
    }
}
