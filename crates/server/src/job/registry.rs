//! Live job owners by job id. A job absent from here has ended (or never
//! existed): its viewers are served from storage.

use super::OwnerMsg;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct JobHandle {
    pub tx: mpsc::Sender<OwnerMsg>,
    /// Maintained by the owner; read before an upgrade to refuse early.
    pub viewers: Arc<AtomicUsize>,
    pub pipeline: bookstrack_protocol::Pipeline,
}

impl JobHandle {
    pub fn viewer_count(&self) -> usize {
        self.viewers.load(Ordering::Relaxed)
    }
}

#[derive(Default, Clone)]
pub struct Registry {
    inner: Arc<Mutex<HashMap<String, JobHandle>>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, JobHandle>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn insert(&self, job_id: String, handle: JobHandle) {
        self.lock().insert(job_id, handle);
    }

    pub fn get(&self, job_id: &str) -> Option<JobHandle> {
        self.lock().get(job_id).cloned()
    }

    pub fn remove(&self, job_id: &str) {
        self.lock().remove(job_id);
    }
}
