//! An external job's events, published over HTTP (docs/PROTOCOL.md §21),
//! under the same rules as a pipeline's: this owner assigns each seq, the
//! factory builds each envelope, progress never goes backwards, and the
//! terminal event is final. Unlike a pipeline's progress, each published
//! event is logged, with its idempotency key, before it is sent and before
//! the publisher's answer: the answer is a promise that a retry after a
//! lost response, even across a crash, gets the same seq.

use super::Owner;
use crate::clock;
use crate::hub::Frame;
use crate::job::PublishAnswer;
use crate::metrics::Refusal;
use crate::store::{Checkpoint, EventKind, StoredEvent};
use bookstrack_protocol::publish::{PublishEvent, PublishOutcome, PublishResponse};
use bookstrack_protocol::{ApiError, Envelope, ErrorCode, JobStatus, Payload, ProgressUpdate};
use std::collections::{HashMap, VecDeque};

/// What an external job's owner remembers of its publisher: the keys of
/// the retained events and the last progress sent.
#[derive(Default)]
pub(crate) struct Published {
    loaded: bool,
    keys: HashMap<String, u64>,
    /// Keys by seq, oldest first, to forget them as their events leave the
    /// log (which keeps up to `TRIM_EVERY` more than the retention: a key
    /// is never forgotten here while the log still has it).
    order: VecDeque<(u64, String)>,
    last_progress: f64,
}

impl Published {
    fn remember(&mut self, key: String, seq: u64, retain: u64) {
        self.keys.insert(key.clone(), seq);
        self.order.push_back((seq, key));
        while let Some((oldest, _)) = self.order.front() {
            if *oldest + retain > seq {
                break;
            }
            let (_, k) = self.order.pop_front().expect("front exists");
            self.keys.remove(&k);
        }
    }
}

/// One event accepted into a batch: its envelope and what it sets.
struct Accepted {
    env: Envelope,
    json: String,
    kind: EventKind,
}

fn refused(code: ErrorCode, message: String) -> PublishOutcome {
    PublishOutcome::Refused {
        error: ApiError { code, message },
    }
}

impl Owner {
    /// Reads back, once per owner, what a previous process logged: the keys
    /// of retained events and the newest progress.
    async fn load_published(&mut self) -> Result<(), crate::store::StoreError> {
        if self.published.as_ref().is_some_and(|p| p.loaded) {
            return Ok(());
        }
        let store = self.deps.store.clone();
        let id = self.state.job_id.clone();
        let mut keys = store.publish_keys(&id).await?;
        keys.sort_by_key(|(_, seq)| *seq);
        let last = store
            .events_after(&id, self.state.last_seq.saturating_sub(1), 1)
            .await?;
        let retain = self.deps.limits.event_retention.max(1) + crate::store::TRIM_EVERY;
        let p = self.published.get_or_insert_with(Box::default);
        for (k, seq) in keys {
            p.remember(k, seq, retain);
        }
        if let Some(Payload::JobProgress(u)) = last
            .first()
            .and_then(|e| serde_json::from_str::<Envelope>(&e.json).ok())
            .map(Envelope::into_payload)
        {
            // The state row follows the throttle; the log has every event:
            // after a crash the newest progress is the truth.
            p.last_progress = u.progress;
            let s = &mut self.state;
            s.processed_count = u.books_processed.unwrap_or(s.processed_count);
            s.total_count = u.total_books.unwrap_or(s.total_count);
            s.current_status = u.status;
        }
        p.loaded = true;
        Ok(())
    }

    /// Answers a publisher's batch; returns true once the job has ended.
    pub(super) async fn on_publish(&mut self, batch: crate::job::PublishBatch) -> bool {
        if let Err(e) = self.load_published().await {
            let _ = batch.reply.send(PublishAnswer::Store(e));
            return false;
        }
        let before = (self.state.clone(), self.last_emitted_processed);
        let last_progress = self.published.as_ref().map_or(0.0, |p| p.last_progress);
        let mut progress_now = last_progress;
        let mut outcomes = Vec::with_capacity(batch.events.len());
        let mut accepted: Vec<Accepted> = Vec::new();
        let mut keys: Vec<(u64, String)> = Vec::new();
        for ev in batch.events {
            let key = ev.key().map(str::to_string);
            if let Some(seq) = key.as_deref().and_then(|k| self.seq_of_key(k, &keys)) {
                self.deps.metrics.published_duplicate();
                outcomes.push(PublishOutcome::Duplicate { seq });
                continue;
            }
            if self.state.status.is_terminal() {
                self.deps.metrics.refused(Refusal::JobEnded);
                outcomes.push(refused(
                    ErrorCode::JobEnded,
                    format!(
                        "the job has ended (seq {}): nothing may follow its terminal event",
                        self.state.last_seq
                    ),
                ));
                continue;
            }
            match self.apply(ev, &mut progress_now) {
                Ok((payload, kind)) => {
                    let seq = self.state.last_seq + 1;
                    self.state.last_seq = seq;
                    let env = self.factory.event(seq, clock::now_ms(), payload);
                    if let Some(k) = key {
                        keys.push((seq, k));
                    }
                    outcomes.push(PublishOutcome::Appended { seq });
                    let json = env.to_json();
                    accepted.push(Accepted { env, json, kind });
                }
                Err((reason, error)) => {
                    self.deps.metrics.refused(reason);
                    outcomes.push(PublishOutcome::Refused { error });
                }
            }
        }
        if !accepted.is_empty() {
            if let Err(e) = self.log_published(&accepted, keys.clone()).await {
                (self.state, self.last_emitted_processed) = before;
                let _ = batch.reply.send(PublishAnswer::Store(e));
                return false;
            }
            let retain = self.deps.limits.event_retention.max(1) + crate::store::TRIM_EVERY;
            let p = self.published.get_or_insert_with(Box::default);
            p.last_progress = progress_now;
            for (seq, k) in keys {
                p.remember(k, seq, retain);
            }
            for a in &accepted {
                self.deps.metrics.published_appended();
                self.fan_out(Frame::new(&a.env, a.json.clone()));
            }
        }
        let ended = self.state.status.is_terminal();
        if ended
            && accepted
                .last()
                .is_some_and(|a| a.kind == EventKind::Terminal)
        {
            self.ended();
        }
        let _ = batch.reply.send(PublishAnswer::Done(PublishResponse {
            results: outcomes,
            last_seq: self.state.last_seq,
        }));
        ended
    }

    fn seq_of_key(&self, key: &str, batch: &[(u64, String)]) -> Option<u64> {
        batch
            .iter()
            .find(|(_, k)| k == key)
            .map(|(seq, _)| *seq)
            .or_else(|| self.published.as_ref()?.keys.get(key).copied())
    }

    /// Checks one event against the job and applies it to the state.
    fn apply(
        &mut self,
        ev: PublishEvent,
        progress_now: &mut f64,
    ) -> Result<(Payload, EventKind), (Refusal, ApiError)> {
        let invalid = |message: String| {
            (
                Refusal::Invalid,
                ApiError {
                    code: ErrorCode::InvalidRequest,
                    message,
                },
            )
        };
        match ev {
            PublishEvent::Progress {
                progress,
                status,
                books_processed,
                total_books,
                current_title,
                ..
            } => {
                let update = ProgressUpdate {
                    progress: progress.unwrap_or_default(),
                    status,
                    books_processed,
                    total_books,
                    current_title,
                };
                self.apply_progress(update, progress.is_some(), progress_now)
                    .map(|u| (Payload::JobProgress(u), EventKind::Progress))
            }
            PublishEvent::Complete {
                mut result,
                success_count,
                failure_count,
                ..
            } => {
                let s = &mut self.state;
                s.success_count = success_count.unwrap_or(s.processed_count);
                s.failure_count = failure_count.unwrap_or(0);
                s.status = JobStatus::Complete;
                s.current_status = "Complete".into();
                s.end_time = Some(clock::now_ms());
                for counted in ["totalBooks", "successCount", "failureCount"] {
                    result.remove(counted);
                }
                result.insert("totalBooks".into(), s.total_count.into());
                result.insert("successCount".into(), s.success_count.into());
                result.insert("failureCount".into(), s.failure_count.into());
                Ok((Payload::JobComplete { result }, EventKind::Terminal))
            }
            PublishEvent::Error { code, message, .. } => {
                if !matches!(
                    code,
                    ErrorCode::ProcessingFailed | ErrorCode::CsvParseError | ErrorCode::AiScanError
                ) {
                    return Err(invalid(format!(
                        "a job fails with PROCESSING_FAILED, CSV_PARSE_ERROR or AI_SCAN_ERROR, not {code}"
                    )));
                }
                let s = &mut self.state;
                s.status = JobStatus::Failed;
                s.current_status = format!("Failed: {message}");
                s.end_time = Some(clock::now_ms());
                let error = ApiError { code, message };
                Ok((Payload::Error { error }, EventKind::Terminal))
            }
        }
    }

    /// A progress against the last one sent: refused if it goes back.
    fn apply_progress(
        &mut self,
        update: ProgressUpdate,
        given: bool,
        progress_now: &mut f64,
    ) -> Result<ProgressUpdate, (Refusal, ApiError)> {
        let invalid = |message: String| {
            (
                Refusal::Invalid,
                ApiError {
                    code: ErrorCode::InvalidRequest,
                    message,
                },
            )
        };
        let total = update.total_books.unwrap_or(self.state.total_count);
        let processed = update.books_processed.unwrap_or(self.state.processed_count);
        if total > 0 && processed > total {
            return Err(invalid(format!(
                "booksProcessed {processed} is more than totalBooks {total}"
            )));
        }
        let fraction = match update.progress {
            p if given && !(0.0..=1.0).contains(&p) => {
                return Err(invalid(format!("progress {p} is not between 0 and 1")));
            }
            p if given => p,
            _ if total == 0 => *progress_now,
            // Derived from the counts, it holds its value when a raised
            // total would take it back: only what the publisher said itself
            // can be stale.
            _ => (processed as f64 / total as f64).max(*progress_now),
        };
        let behind = self.last_emitted_processed.filter(|last| processed < *last);
        if behind.is_some() || fraction < *progress_now {
            let message = match behind {
                    Some(last) => format!(
                        "booksProcessed {processed} is behind {last}, already sent: progress never goes backwards"
                    ),
                    None => format!(
                        "progress {fraction} is behind {progress_now}, already sent: progress never goes backwards"
                    ),
                };
            return Err((
                Refusal::StaleProgress,
                ApiError {
                    code: ErrorCode::StaleProgress,
                    message,
                },
            ));
        }
        *progress_now = fraction;
        self.state.total_count = total;
        self.state.processed_count = processed;
        self.state.current_status.clone_from(&update.status);
        self.last_emitted_processed = Some(processed);
        Ok(ProgressUpdate {
            progress: fraction,
            books_processed: Some(processed),
            total_books: Some(total),
            ..update
        })
    }

    /// Logs the accepted events with their keys in one transaction, with the
    /// state when the pipeline's throttle says so (always at the end).
    async fn log_published(
        &mut self,
        accepted: &[Accepted],
        keys: Vec<(u64, String)>,
    ) -> Result<(), crate::store::StoreError> {
        self.settle().await;
        let progress = accepted
            .iter()
            .filter(|a| a.kind == EventKind::Progress)
            .count() as u64;
        self.updates_since_persist += progress;
        let throttle = self.deps.limits.throttle(self.state.pipeline);
        let due = self.state.status.is_terminal()
            || self.updates_since_persist >= throttle.updates
            || self.last_persist.elapsed() >= throttle.interval;
        if due {
            self.state.version += 1;
        }
        let events = accepted
            .iter()
            .map(|a| StoredEvent {
                seq: a.env.seq().unwrap_or_default(),
                kind: a.kind,
                json: a.json.clone(),
            })
            .collect();
        let cp = Checkpoint {
            state: due.then(|| self.state.clone()),
            cursor: self.cursor,
            events,
            retain: self.deps.limits.event_retention,
            seq_reserved: self.state.last_seq,
            keys,
            ..Default::default()
        };
        self.deps.store.checkpoint(&self.state.job_id, cp).await?;
        if due {
            crate::metrics::Metrics::inc(&self.deps.metrics.state_writes);
            self.updates_since_persist = 0;
            self.last_persist = tokio::time::Instant::now();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Published;

    #[test]
    fn keys_are_forgotten_with_their_events() {
        let mut p = Published::default();
        for seq in 1..=10 {
            p.remember(format!("k{seq}"), seq, 4);
        }
        assert_eq!(p.keys.len(), 4, "the retention window's keys");
        assert_eq!(p.keys.get("k10"), Some(&10));
        assert_eq!(p.keys.get("k7"), Some(&7));
        assert!(!p.keys.contains_key("k6"));
    }
}
