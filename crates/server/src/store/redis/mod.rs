//! The job store of several nodes: every job's state, tokens, event log and
//! output in one Redis, so that any node can serve, resume or take over any
//! job (docs/PROTOCOL.md §22). Behind the cargo feature `redis` (on by
//! default); `tests/it/store_contract.rs` runs the same suite against it as
//! against SQLite.
//!
//! Keys. A job's keys share the hash tag `{J}`, so each script below
//! touches one slot of a Redis Cluster apart from the three indexes:
//!
//! | key | type | what |
//! |---|---|---|
//! | `bt:{J}:state` | hash | the state JSON, status, cursor, `last_seq`, `reserved`, `fence`, `owner`, `acked`, input path, params |
//! | `bt:{J}:tok`, `bt:{J}:ptok` | hash | the viewers' token and the publisher's key: `hash` (hex), `exp`, `prev` |
//! | `bt:{J}:ev` | stream | entry id `<seq>-0`; `e` the event JSON, `k` its kind, `n` the writer, `i` an idempotency key |
//! | `bt:{J}:books`, `:dups`, `:errors` | list | output, appended by checkpoints; an index is a position in its list |
//! | `bt:{J}:works` | hash | work id → position in `books` |
//! | `bt:tok:<hex>` | string | the job whose current viewer token has that hash |
//! | `bt:unfinished` | set | jobs not ended: what a restart or takeover resumes |
//! | `bt:ended` | sorted set | ended jobs by end time: the 24 h cleanup |
//!
//! Ownership. Each write carries the fence this store holds for the job (1
//! for the node that created it, one more for each takeover); the script
//! compares it with the stored one, so once a job is taken over, the old
//! owner's writes are refused with [`StoreError::Fenced`] however late they
//! arrive.

mod job_store;
mod scripts;
mod trait_impl;

use super::{StoreError, StoreResult};
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How long one command may take before the call fails: above a loaded
/// Redis's pauses (an AOF rewrite's fork), below a client's patience.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct RedisStore {
    con: ConnectionManager,
    /// This process: the node id and a random boot id, so a restarted node
    /// never mistakes an old incarnation's ownership for its own.
    incarnation: String,
    /// The fence this node holds for each job it owns.
    fences: Mutex<HashMap<String, u64>>,
}

fn key(job_id: &str, part: &str) -> String {
    format!("bt:{{{job_id}}}:{part}")
}

const TOKEN_INDEX: &str = "bt:tok:";
const UNFINISHED: &str = "bt:unfinished";
const ENDED: &str = "bt:ended";

fn redis_err(e: ::redis::RedisError) -> StoreError {
    StoreError::database(e)
}

impl RedisStore {
    /// Connects, and refuses a Redis configured so that it could drop jobs
    /// ([`check_settings`]). `node` names this node in ownership records.
    pub async fn open(url: &str, node: &str) -> StoreResult<RedisStore> {
        let client = ::redis::Client::open(url).map_err(redis_err)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(RESPONSE_TIMEOUT));
        let mut con = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(redis_err)?;
        check_settings(&mut con).await?;
        let boot = uuid::Uuid::now_v7().simple().to_string();
        Ok(RedisStore {
            con,
            incarnation: format!("{node}:{}", &boot[boot.len() - 8..]),
            fences: Mutex::new(HashMap::new()),
        })
    }

    /// This node's incarnation, as stored in `owner` and in each event's `n`.
    pub fn incarnation(&self) -> &str {
        &self.incarnation
    }

    fn fence(&self, job_id: &str) -> u64 {
        let fences = self
            .fences
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        fences.get(job_id).copied().unwrap_or(1)
    }

    fn set_fence(&self, job_id: &str, fence: Option<u64>) {
        let mut fences = self
            .fences
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match fence {
            Some(f) => fences.insert(job_id.to_string(), f),
            None => fences.remove(job_id),
        };
    }

    /// Makes this node the owner of a job that has not ended, with a fence
    /// one above the last owner's: from the answer on, every write of the
    /// previous owner is refused. `None` if the job ended or does not exist.
    pub async fn take_over(&self, job_id: &str) -> StoreResult<Option<u64>> {
        let fence: Option<u64> = scripts::TAKE_OVER
            .key(key(job_id, "state"))
            .arg(&self.incarnation)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(redis_err)?;
        if let Some(f) = fence {
            self.set_fence(job_id, Some(f));
        }
        Ok(fence)
    }

    /// The node incarnation that owns the job now, if it exists.
    pub async fn owner(&self, job_id: &str) -> StoreResult<Option<String>> {
        ::redis::cmd("HGET")
            .arg(key(job_id, "state"))
            .arg("owner")
            .query_async(&mut self.con.clone())
            .await
            .map_err(redis_err)
    }
}

/// Settings under which Redis could lose a job: an eviction policy other
/// than `noeviction` drops keys when memory is full, and without the
/// append-only file a restart forgets every write since the last snapshot.
/// Refused at start, with the setting named, rather than found out later.
async fn check_settings(con: &mut ConnectionManager) -> StoreResult<()> {
    let get = |name: &'static str| {
        let mut con = con.clone();
        async move {
            let v: Vec<String> = ::redis::cmd("CONFIG")
                .arg("GET")
                .arg(name)
                .query_async(&mut con)
                .await
                .map_err(redis_err)?;
            Ok::<_, StoreError>(v.get(1).cloned().unwrap_or_default())
        }
    };
    let policy = get("maxmemory-policy").await?;
    if policy != "noeviction" {
        return Err(StoreError::Unsafe(format!(
            "maxmemory-policy is {policy}: it could evict jobs; set it to noeviction"
        )));
    }
    let aof = get("appendonly").await?;
    if aof != "yes" {
        return Err(StoreError::Unsafe(
            "appendonly is no: a restart of Redis would forget acknowledged jobs; set appendonly yes".into(),
        ));
    }
    Ok(())
}
