//! [`JobStore`] on Redis: reads are plain commands, every write that must
//! agree with another is one script (`scripts.rs`).

use super::scripts::{REPLACE_TOKEN, WRITE};
use super::{key, redis_err, RedisStore, ENDED, TOKEN_INDEX, UNFINISHED};
use crate::store::schema::parse_state;
use crate::store::*;
use ::redis::streams::StreamRangeReply;

/// A job's keys, in the order the delete script takes them (the viewer
/// token second).
pub(super) const JOB_KEYS: [&str; 8] = [
    "state", "tok", "ptok", "ev", "books", "dups", "errors", "works",
];

pub(super) fn hash_hex(h: &TokenHash) -> String {
    hex::encode(h)
}

fn parse_hash(s: &str) -> StoreResult<TokenHash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(StoreError::corrupt)?;
    Ok(out)
}

impl RedisStore {
    pub(super) async fn read_token(
        &self,
        job_id: &str,
        part: &str,
    ) -> StoreResult<Option<TokenRecord>> {
        let (hash, exp, prev): (Option<String>, Option<i64>, Option<String>) =
            ::redis::cmd("HMGET")
                .arg(key(job_id, part))
                .arg(&["hash", "exp", "prev"])
                .query_async(&mut self.con.clone())
                .await
                .map_err(redis_err)?;
        let (Some(hash), Some(expires_at)) = (hash, exp) else {
            return Ok(None);
        };
        Ok(Some(TokenRecord {
            hash: parse_hash(&hash)?,
            expires_at,
            previous: prev.as_deref().map(parse_hash).transpose()?,
        }))
    }

    pub(super) async fn swap_token(
        &self,
        job_id: &str,
        part: &str,
        old: &TokenHash,
        new: &TokenHash,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let (old, new) = (hash_hex(old), hash_hex(new));
        let indexed = part == "tok";
        let (old_index, new_index) = if indexed {
            (format!("{TOKEN_INDEX}{old}"), format!("{TOKEN_INDEX}{new}"))
        } else {
            (key(job_id, part), key(job_id, part))
        };
        let swapped: i64 = REPLACE_TOKEN
            .key(key(job_id, part))
            .key(old_index)
            .key(new_index)
            .arg(old)
            .arg(new)
            .arg(expires_at)
            .arg(job_id)
            .arg(u8::from(indexed))
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(redis_err)?;
        Ok(swapped == 1)
    }

    /// Events, output and state in one script, under this node's fence.
    pub(super) async fn write(&self, job_id: &str, cp: &Checkpoint) -> StoreResult<()> {
        let mut inv = WRITE.prepare_invoke();
        for part in ["state", "ev", "books", "dups", "errors", "works"] {
            inv.key(key(job_id, part));
        }
        inv.key(UNFINISHED).key(ENDED);
        let (dups, books): (Vec<&Item>, Vec<&Item>) =
            cp.items.iter().partition(|i| is_duplicate(&i.json));
        inv.arg(self.fence(job_id))
            .arg(cp.retain)
            .arg(&self.incarnation)
            .arg(job_id)
            .arg(cp.events.len())
            .arg(books.len())
            .arg(dups.len())
            .arg(cp.errors.len());
        match &cp.state {
            Some(st) => {
                let json = serde_json::to_string(st).map_err(StoreError::database)?;
                inv.arg(1)
                    .arg(json)
                    .arg(st.status.as_str())
                    .arg(st.end_time.map(|t| t.to_string()).unwrap_or_default())
                    .arg(cp.cursor)
                    .arg(crate::clock::now_ms())
                    .arg(cp.seq_reserved)
                    .arg(u8::from(st.status.is_terminal()));
            }
            None => {
                inv.arg(0)
                    .arg("")
                    .arg("")
                    .arg("")
                    .arg(0)
                    .arg(0)
                    .arg(0)
                    .arg(0);
            }
        }
        for e in &cp.events {
            let k = cp.keys.iter().find(|(s, _)| *s == e.seq);
            inv.arg(e.seq)
                .arg(e.kind.letter().to_string())
                .arg(&e.json)
                .arg(k.map_or("", |(_, k)| k.as_str()));
        }
        for b in books {
            inv.arg(b.work_id.as_deref().unwrap_or("")).arg(&b.json);
        }
        for d in dups {
            inv.arg(&d.json);
        }
        for e in &cp.errors {
            inv.arg(serde_json::to_string(e).map_err(StoreError::database)?);
        }
        let answer: String = inv
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(redis_err)?;
        match answer.as_str() {
            "OK" => Ok(()),
            "FENCED" => Err(StoreError::Fenced(job_id.to_string())),
            "NOJOB" => Err(StoreError::Refused(format!("job {job_id} does not exist"))),
            "TERMINAL" => Err(StoreError::Refused(format!("job {job_id} has ended"))),
            other => Err(StoreError::Refused(format!(
                "job {job_id}: an event out of order (logged up to {})",
                other.trim_start_matches("SEQ:")
            ))),
        }
    }

    pub(super) async fn stream(
        &self,
        job_id: &str,
        after: u64,
        limit: u64,
    ) -> StoreResult<Vec<StoredEvent>> {
        let reply: StreamRangeReply = ::redis::cmd("XRANGE")
            .arg(key(job_id, "ev"))
            .arg(format!("({after}-0"))
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut self.con.clone())
            .await
            .map_err(redis_err)?;
        reply.ids.iter().map(stored_event).collect()
    }
}

impl RedisStore {
    /// What a takeover or a restart resumes from, if the job still exists.
    pub(super) async fn unfinished_job(&self, id: &str) -> StoreResult<Option<Unfinished>> {
        type Fields = (
            Option<String>,
            Option<u64>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<u64>,
            Option<u64>,
        );
        let (state, cursor, input, params, cp_at, last, reserved): Fields = ::redis::cmd("HMGET")
            .arg(key(id, "state"))
            .arg(&[
                "state", "cursor", "input", "params", "cp_at", "last_seq", "reserved",
            ])
            .query_async(&mut self.con.clone())
            .await
            .map_err(redis_err)?;
        let Some(state) = state else {
            return Ok(None);
        };
        let state = parse_state(&state)?;
        // Progress logged after the checkpoint: the durable half of the
        // write throttle, as the SQLite backend counts it.
        let since = self
            .stream(id, state.last_seq, MAX_SINCE_CHECKPOINT)
            .await?;
        let updates = since
            .iter()
            .filter(|e| e.kind == EventKind::Progress)
            .count();
        let newest: StreamRangeReply = ::redis::cmd("XREVRANGE")
            .arg(key(id, "ev"))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.con.clone())
            .await
            .map_err(redis_err)?;
        let last_event = newest.ids.first().map(stored_event).transpose()?;
        Ok(Some(Unfinished {
            cursor: cursor.unwrap_or(0),
            input_path: input,
            params: params
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or(Value::Null),
            last_event_seq: last.unwrap_or(0).max(reserved.unwrap_or(0)),
            updates_since_checkpoint: updates as u64,
            last_event: last_event.map(|e| e.json),
            checkpointed_at: cp_at.unwrap_or(0),
            state,
        }))
    }

    /// The idempotency keys of the retained events, by seq.
    pub(super) async fn stream_keys(&self, id: &str) -> StoreResult<Vec<(u64, String)>> {
        let all: StreamRangeReply = ::redis::cmd("XRANGE")
            .arg(key(id, "ev"))
            .arg("-")
            .arg("+")
            .query_async(&mut self.con.clone())
            .await
            .map_err(redis_err)?;
        let mut out = Vec::new();
        for e in &all.ids {
            if let Some(k) = e.get::<String>("i") {
                out.push((stored_event(e)?.seq, k));
            }
        }
        Ok(out)
    }
}

/// Events read back to count the throttle's updates on resume: more than a
/// checkpoint interval ever logs (`job/owner.rs` checkpoints every 20).
const MAX_SINCE_CHECKPOINT: u64 = 10_000;

/// A merged row carries `duplicateOfRow`, as the SQLite backend partitions.
fn is_duplicate(json: &str) -> bool {
    serde_json::from_str::<serde_json::Map<String, Value>>(json)
        .is_ok_and(|m| m.contains_key("duplicateOfRow"))
}

fn stored_event(id: &::redis::streams::StreamId) -> StoreResult<StoredEvent> {
    let seq = id
        .id
        .split('-')
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| StoreError::corrupt(format!("a stream id {}", id.id)))?;
    let json: String = id
        .get("e")
        .ok_or_else(|| StoreError::corrupt("an event without its JSON"))?;
    let kind = id
        .get::<String>("k")
        .and_then(|k| k.chars().next())
        .and_then(EventKind::from_letter)
        .unwrap_or_else(|| EventKind::of_json(&json));
    Ok(StoredEvent { seq, kind, json })
}
