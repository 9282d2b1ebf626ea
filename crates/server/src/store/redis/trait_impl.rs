//! The [`JobStore`] methods of [`RedisStore`], each one command, one
//! pipeline or one script (`job_store.rs`, `scripts.rs`).

use super::job_store::{hash_hex, JOB_KEYS};
use super::scripts::{ACK, CREATE, DELETE};
use super::{key, redis_err, RedisStore, ENDED, TOKEN_INDEX, UNFINISHED};
use crate::store::schema::parse_state;
use crate::store::*;
use ::redis::AsyncCommands;

#[async_trait]
impl JobStore for RedisStore {
    async fn create_job(&self, job: NewJob) -> StoreResult<()> {
        let id = job.state.job_id.clone();
        let state = serde_json::to_string(&job.state).map_err(StoreError::database)?;
        let (phash, pexp) = job
            .publisher
            .as_ref()
            .map_or((String::new(), 0), |p| (hash_hex(&p.hash), p.expires_at));
        let created: i64 = CREATE
            .key(key(&id, "state"))
            .key(key(&id, "tok"))
            .key(format!("{TOKEN_INDEX}{}", hash_hex(&job.token_hash)))
            .key(key(&id, "ptok"))
            .key(UNFINISHED)
            .arg(&id)
            .arg(state)
            .arg(job.state.status.as_str())
            .arg(
                job.state
                    .end_time
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
            )
            .arg(job.input_path.unwrap_or_default())
            .arg(job.params.to_string())
            .arg(job.state.start_time)
            .arg(hash_hex(&job.token_hash))
            .arg(job.token_expires_at)
            .arg(phash)
            .arg(pexp)
            .arg(self.incarnation())
            .arg(u8::from(job.state.status.is_terminal()))
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(redis_err)?;
        if created == 0 {
            return Err(StoreError::Duplicate(id));
        }
        self.set_fence(&id, Some(1));
        Ok(())
    }

    async fn job_state(&self, job_id: &str) -> StoreResult<Option<JobState>> {
        let (state, acked): (Option<String>, Option<u64>) = ::redis::cmd("HMGET")
            .arg(key(job_id, "state"))
            .arg(&["state", "acked"])
            .query_async(&mut self.con.clone())
            .await
            .map_err(redis_err)?;
        state
            .map(|s| {
                let mut st = parse_state(&s)?;
                st.acked_seq = acked;
                Ok(st)
            })
            .transpose()
    }

    async fn token(&self, job_id: &str) -> StoreResult<Option<TokenRecord>> {
        self.read_token(job_id, "tok").await
    }

    async fn jobs_by_token(&self, hashes: Vec<TokenHash>) -> StoreResult<Vec<(String, i64)>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let index: Vec<String> = hashes
            .iter()
            .map(|h| format!("{TOKEN_INDEX}{}", hash_hex(h)))
            .collect();
        let ids: Vec<Option<String>> = self.con.clone().mget(&index).await.map_err(redis_err)?;
        let mut out = Vec::new();
        for (id, h) in ids.into_iter().zip(&hashes) {
            let Some(id) = id else { continue };
            // The index follows the token in the same script; read the
            // record itself for the expiry, and to be sure it is current.
            if let Some(t) = self.read_token(&id, "tok").await? {
                if t.hash == *h {
                    out.push((id, t.expires_at));
                }
            }
        }
        Ok(out)
    }

    async fn replace_token(
        &self,
        job_id: &str,
        old: &TokenHash,
        new: &TokenHash,
        expires_at: i64,
    ) -> StoreResult<bool> {
        self.swap_token(job_id, "tok", old, new, expires_at).await
    }

    async fn append_event(&self, job_id: &str, event: StoredEvent, retain: u64) -> StoreResult<()> {
        let cp = Checkpoint {
            events: vec![event],
            retain,
            ..Default::default()
        };
        self.write(job_id, &cp).await
    }

    async fn events_after(
        &self,
        job_id: &str,
        after: u64,
        limit: u64,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.stream(job_id, after, limit).await
    }

    async fn checkpoint(&self, job_id: &str, cp: Checkpoint) -> StoreResult<()> {
        self.write(job_id, &cp).await
    }

    async fn output(&self, job_id: &str) -> StoreResult<Option<JobOutput>> {
        let mut con = self.con.clone();
        let exists: bool = con.exists(key(job_id, "state")).await.map_err(redis_err)?;
        if !exists {
            return Ok(None);
        }
        // Books, then the rows merged into them: each list in its own order.
        let mut items = Vec::new();
        for part in ["books", "dups"] {
            let rows: Vec<String> = con
                .lrange(key(job_id, part), 0, -1)
                .await
                .map_err(redis_err)?;
            for r in rows {
                items.push(serde_json::from_str(&r).map_err(StoreError::corrupt)?);
            }
        }
        let rows: Vec<String> = con
            .lrange(key(job_id, "errors"), 0, -1)
            .await
            .map_err(redis_err)?;
        let errors = rows
            .iter()
            .map(|r| serde_json::from_str(r).map_err(StoreError::corrupt))
            .collect::<StoreResult<_>>()?;
        Ok(Some(JobOutput { items, errors }))
    }

    async fn output_page(
        &self,
        job_id: &str,
        part: OutputPart,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, String)>> {
        let list = match part {
            OutputPart::Books => "books",
            OutputPart::Duplicates => "dups",
            OutputPart::Errors => "errors",
        };
        let first = (after + 1).max(0);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let last = first + i64::from(limit) - 1;
        let rows: Vec<String> = self
            .con
            .clone()
            .lrange(key(job_id, list), first as isize, last as isize)
            .await
            .map_err(redis_err)?;
        Ok((first..).zip(rows).collect())
    }

    async fn unfinished(&self) -> StoreResult<Vec<Unfinished>> {
        let ids: Vec<String> = self
            .con
            .clone()
            .smembers(UNFINISHED)
            .await
            .map_err(redis_err)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(u) = self.unfinished_job(&id).await? {
                out.push(u);
            }
        }
        Ok(out)
    }

    async fn ended_before(&self, ended_before: i64) -> StoreResult<Vec<String>> {
        self.con
            .clone()
            .zrangebyscore(ENDED, "-inf", ended_before)
            .await
            .map_err(redis_err)
    }

    async fn earliest_end(&self) -> StoreResult<Option<i64>> {
        let first: Vec<(String, f64)> = self
            .con
            .clone()
            .zrange_withscores(ENDED, 0, 0)
            .await
            .map_err(redis_err)?;
        Ok(first.first().map(|(_, t)| *t as i64))
    }

    async fn input_path(&self, job_id: &str) -> StoreResult<Option<String>> {
        self.con
            .clone()
            .hget(key(job_id, "state"), "input")
            .await
            .map_err(redis_err)
    }

    async fn record_acks(&self, acks: Vec<(String, u64)>) -> StoreResult<()> {
        for (id, seq) in acks {
            let _: i64 = ACK
                .key(key(&id, "state"))
                .arg(seq)
                .invoke_async(&mut self.con.clone())
                .await
                .map_err(redis_err)?;
        }
        Ok(())
    }

    async fn acked_seq(&self, job_id: &str) -> StoreResult<Option<u64>> {
        self.con
            .clone()
            .hget(key(job_id, "state"), "acked")
            .await
            .map_err(redis_err)
    }

    async fn delete_job(&self, job_id: &str) -> StoreResult<()> {
        let mut inv = DELETE.prepare_invoke();
        for part in JOB_KEYS {
            inv.key(key(job_id, part));
        }
        let _: i64 = inv
            .key(UNFINISHED)
            .key(ENDED)
            .arg(job_id)
            .arg(TOKEN_INDEX)
            .arg(JOB_KEYS.len())
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(redis_err)?;
        self.set_fence(job_id, None);
        Ok(())
    }

    async fn publisher_token(&self, job_id: &str) -> StoreResult<Option<TokenRecord>> {
        self.read_token(job_id, "ptok").await
    }

    async fn replace_publisher_token(
        &self,
        job_id: &str,
        old: &TokenHash,
        new: &TokenHash,
        expires_at: i64,
    ) -> StoreResult<bool> {
        self.swap_token(job_id, "ptok", old, new, expires_at).await
    }

    async fn publish_keys(&self, job_id: &str) -> StoreResult<Vec<(String, u64)>> {
        Ok(self
            .stream_keys(job_id)
            .await?
            .into_iter()
            .map(|(seq, k)| (k, seq))
            .collect())
    }
}
