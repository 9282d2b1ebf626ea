//! Viewers of jobs that have ended (no owner holds them): counted against
//! `--max-viewers-per-job` as a live job's are, and served one shared copy
//! of the retained events. The events are read from the store and framed
//! once, by the first viewer, and every viewer that comes while any is
//! still connected gets pointers into that one copy: forty viewers of a
//! job whose events are large hold the events once, not forty times
//! (docs/PROTOCOL.md §17). The entry goes with its last viewer.
//!
//! Used by `ws::from_store` (`/ws/progress`) and `ws::mux_subs`
//! (`/ws/jobs`); a live job's viewers are counted by its owner
//! (`job::Registry`).

use super::replay_from_store;
use crate::clock;
use crate::hub::Frame;
use crate::store::{JobStore, StoreError, StoreResult};
use bookstrack_protocol::{JobState, MessageFactory};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::OnceCell;

/// The retained events of one ended job, framed once.
type Shared = Arc<OnceCell<Vec<Arc<Frame>>>>;

pub struct EndedJobs {
    max_viewers: usize,
    /// Per job: its viewers now, and its events once read.
    jobs: Mutex<HashMap<String, (usize, Shared)>>,
}

/// One viewer's place among an ended job's; given back on drop.
pub struct EndedViewer {
    jobs: Arc<EndedJobs>,
    job_id: String,
    events: Shared,
}

impl EndedJobs {
    pub fn new(max_viewers: usize) -> Arc<EndedJobs> {
        Arc::new(EndedJobs {
            max_viewers,
            jobs: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (usize, Shared)>> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place among `job_id`'s viewers, or `Err` with the limit reached.
    pub fn join(self: &Arc<Self>, job_id: &str) -> Result<EndedViewer, usize> {
        let mut jobs = self.lock();
        let (n, events) = jobs
            .entry(job_id.to_string())
            .or_insert_with(|| (0, Shared::default()));
        if *n >= self.max_viewers {
            return Err(self.max_viewers);
        }
        *n += 1;
        Ok(EndedViewer {
            jobs: self.clone(),
            job_id: job_id.to_string(),
            events: events.clone(),
        })
    }

    /// Viewers of `job_id` counted here now.
    pub fn viewers(&self, job_id: &str) -> usize {
        self.lock().get(job_id).map_or(0, |e| e.0)
    }
}

impl Drop for EndedViewer {
    fn drop(&mut self) {
        let mut jobs = self.jobs.lock();
        if let Some((n, _)) = jobs.get_mut(&self.job_id) {
            *n -= 1;
            if *n == 0 {
                jobs.remove(&self.job_id);
            }
        }
    }
}

impl EndedViewer {
    /// The job's retained events, loaded by the first viewer to ask; the
    /// others wait for that load rather than make their own.
    async fn shared<F>(&self, load: F) -> StoreResult<&[Arc<Frame>]>
    where
        F: Future<Output = StoreResult<Vec<Arc<Frame>>>>,
    {
        self.events
            .get_or_try_init(|| load)
            .await
            .map(Vec::as_slice)
    }

    /// What a viewer resuming after `last_seq` is owed (as
    /// `job::replay_from_store` says), out of the shared events.
    pub async fn owed(
        &self,
        store: &dyn JobStore,
        state: &JobState,
        last_seq: u64,
        retention: u64,
    ) -> StoreResult<Vec<Arc<Frame>>> {
        let events = self
            .shared(async {
                let all = replay_from_store(store, state, 0, retention, &[]).await?;
                Ok::<_, StoreError>(all.into_iter().filter(|f| f.seq.is_some()).collect())
            })
            .await?;
        let first = events.first().and_then(|f| f.seq);
        if last_seq >= state.last_seq || first.is_some_and(|f| f <= last_seq + 1) {
            // Covered by the shared events (or nothing owed): no read.
            return replay_from_store(store, state, last_seq, retention, events).await;
        }
        // Behind the window: the state first, then all that is kept.
        let factory = MessageFactory::new(state.job_id.clone(), state.pipeline);
        let snapshot = Frame::from_envelope(&factory.job_state(clock::now_ms(), state.clone()));
        let mut out = Vec::with_capacity(events.len() + 1);
        out.push(snapshot);
        out.extend(events.iter().cloned());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bookstrack_protocol::Pipeline;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn an_ended_job_takes_its_limit_of_viewers_and_no_more() {
        let jobs = EndedJobs::new(2);
        let a = jobs.join("j").unwrap();
        let _b = jobs.join("j").unwrap();
        assert_eq!(jobs.join("j").err(), Some(2));
        assert!(jobs.join("other").is_ok(), "each job has its own limit");
        drop(a);
        assert_eq!(jobs.viewers("j"), 1);
        assert!(jobs.join("j").is_ok());
        assert_eq!(
            jobs.viewers("other"),
            0,
            "an entry goes with its last viewer"
        );
    }

    #[tokio::test]
    async fn viewers_share_one_copy_of_the_events() {
        let jobs = EndedJobs::new(8);
        let f = MessageFactory::new("j", Pipeline::CsvImport);
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::Relaxed);
            Ok(vec![Frame::from_envelope(&f.job_started(1, 0, 1))])
        };
        let (a, b) = (jobs.join("j").unwrap(), jobs.join("j").unwrap());
        let ea = a.shared(load()).await.unwrap();
        let eb = b.shared(load()).await.unwrap();
        assert_eq!(loads.load(Ordering::Relaxed), 1, "read once");
        assert!(Arc::ptr_eq(&ea[0], &eb[0]), "the same frame, not a copy");
        drop((a, b));
        let c = jobs.join("j").unwrap();
        c.shared(load()).await.unwrap();
        assert_eq!(
            loads.load(Ordering::Relaxed),
            2,
            "not kept past the last viewer"
        );
    }
}
