//! Reads on a few threads of their own, each with its own connection,
//! fed from one queue.
//!
//! A reconnect storm authenticates thousands of sockets at once. Run through
//! tokio's blocking pool, each read took a thread of its own, and hundreds of
//! threads queued on one connection's lock: handing the lock from thread to
//! thread cost milliseconds on a busy machine, and connections were accepted
//! at ~440/s (`bookstrack-bench reconnect`). Here a read waits in a queue,
//! not in a thread.

use super::schema::db;
use super::{StoreError, StoreResult};
use rusqlite::Connection;
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// Reader threads (and connections): enough that one long read (a job's
/// results) does not hold up the short ones (tokens, job states).
pub const READER_THREADS: usize = 2;

type Job = Box<dyn FnOnce(&Connection) + Send>;

pub(super) struct Reader {
    jobs: mpsc::Sender<Job>,
    blocking_waits: bool,
}

impl Reader {
    pub(super) fn spawn(conns: Vec<Connection>, blocking_waits: bool) -> StoreResult<Reader> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for (i, conn) in conns.into_iter().enumerate() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("bookstrack-sqlite-reader-{i}"))
                .spawn(move || loop {
                    let Ok(job) = rx.lock().unwrap_or_else(|p| p.into_inner()).recv() else {
                        return;
                    };
                    job(&conn);
                })
                .map_err(db)?;
        }
        Ok(Reader {
            jobs: tx,
            blocking_waits,
        })
    }

    pub(super) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move |c| {
                let _ = reply.send(f(c));
            }))
            .map_err(|_| StoreError::Stopped("readers"))?;
        super::answer(answer, self.blocking_waits)
            .await
            .ok_or(StoreError::Stopped("readers"))?
    }
}
