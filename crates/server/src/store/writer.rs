//! The one SQLite writer: a thread that commits whatever writes are waiting
//! in one transaction (group commit).
//!
//! Every event is logged before it is sent, so with ten thousand live jobs
//! a transaction per event would cap the whole server at what one commit
//! costs. Here a write waits at most for the commit in progress; the next
//! commit takes everything that queued meanwhile. Each write runs in its own
//! savepoint, so one failing write rolls back alone, and no write is answered
//! before the commit that holds it.

use super::schema::db;
use super::{StoreError, StoreResult, WriteStats};
use rusqlite::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;
use tokio::sync::oneshot;

/// Writes per transaction at most: bounds how long the first of them waits.
pub const MAX_GROUP_COMMIT: usize = 4096;

/// How often WAL frames are copied back into the database, off the writer
/// thread: a checkpoint reads and writes megabytes, and on the writer it
/// stalled every write queued behind it.
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// WAL pages at which the writer checkpoints itself anyway, should the
/// background checkpoint fall behind.
const WRITER_AUTOCHECKPOINT_PAGES: i64 = 16_384;

/// Called once the transaction holding the write has committed (`None`) or
/// failed to (`Some`).
type Done = Box<dyn FnOnce(Option<&StoreError>) + Send>;
/// Runs one write; `true` if it succeeded and should be kept. Given no
/// connection, it does not run and is answered with an error.
type Op = Box<dyn FnOnce(Option<&Connection>) -> (bool, Done) + Send>;

pub(super) struct Writer {
    ops: mpsc::Sender<Op>,
    counts: Arc<Counts>,
    blocking_waits: bool,
}

#[derive(Default)]
struct Counts {
    commits: AtomicU64,
    writes: AtomicU64,
    busy_us: AtomicU64,
}

impl Writer {
    /// Starts the writer thread and the checkpointer (on a connection of
    /// its own); both end when the last `Writer` is dropped.
    pub(super) fn spawn(
        conn: Connection,
        checkpointer: Connection,
        blocking_waits: bool,
    ) -> StoreResult<Writer> {
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
            .map_err(db)?;
        let (tx, rx) = mpsc::channel::<Op>();
        let (alive, gone) = mpsc::channel::<()>();
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        std::thread::Builder::new()
            .name("bookstrack-sqlite-writer".into())
            .spawn(move || {
                run(conn, rx, &c);
                drop(alive);
            })
            .map_err(db)?;
        std::thread::Builder::new()
            .name("bookstrack-sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = gone.recv_timeout(CHECKPOINT_EVERY)
                {
                    if let Err(e) = checkpointer.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })
            .map_err(db)?;
        Ok(Writer {
            ops: tx,
            counts,
            blocking_waits,
        })
    }

    pub(super) fn stats(&self) -> WriteStats {
        let c = &self.counts;
        WriteStats {
            commits: c.commits.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            busy_us: c.busy_us.load(Ordering::Relaxed),
        }
    }

    pub(super) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op: Op = Box::new(move |c| {
            let result = match c {
                Some(c) => f(c),
                None => Err(StoreError::database("could not begin a write")),
            };
            let ok = result.is_ok();
            let done: Done = Box::new(move |commit| {
                let _ = reply.send(match commit {
                    None => result,
                    Some(e) => Err(e.clone()),
                });
            });
            (ok, done)
        });
        self.ops
            .send(op)
            .map_err(|_| StoreError::Stopped("writer"))?;
        super::answer(answer, self.blocking_waits)
            .await
            .ok_or(StoreError::Stopped("writer"))?
    }
}

fn exec(c: &Connection, sql: &str) -> StoreResult<()> {
    c.prepare_cached(sql).map_err(db)?.execute([]).map_err(db)?;
    Ok(())
}

fn run(conn: Connection, rx: mpsc::Receiver<Op>, counts: &Counts) {
    let mut batch: Vec<Op> = Vec::new();
    let mut dones: Vec<Done> = Vec::new();
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_GROUP_COMMIT {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let writes = batch.len() as u64;
        let outcome = commit_batch(&conn, &mut batch, &mut dones);
        counts.commits.fetch_add(1, Ordering::Relaxed);
        counts.writes.fetch_add(writes, Ordering::Relaxed);
        counts
            .busy_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        for done in dones.drain(..) {
            done(outcome.as_ref().err());
        }
    }
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Op>, dones: &mut Vec<Done>) -> StoreResult<()> {
    let begun = exec(conn, "BEGIN");
    for op in batch.drain(..) {
        if begun.is_err() || exec(conn, "SAVEPOINT op").is_err() {
            dones.push(op(None).1);
            continue;
        }
        let (ok, done) = op(Some(conn));
        if !ok {
            let _ = exec(conn, "ROLLBACK TO op");
        }
        let _ = exec(conn, "RELEASE op");
        dones.push(done);
    }
    begun?;
    exec(conn, "COMMIT").inspect_err(|_| {
        let _ = exec(conn, "ROLLBACK");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &tempfile::TempDir) -> Writer {
        let path = dir.path().join("w.sqlite3");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (v INTEGER)")
            .unwrap();
        Writer::spawn(conn, Connection::open(&path).unwrap(), false).unwrap()
    }

    fn insert(v: i64, fail: bool) -> impl FnOnce(&Connection) -> StoreResult<()> + Send {
        move |c| {
            c.execute("INSERT INTO t (v) VALUES (?1)", [v])
                .map_err(db)?;
            if fail {
                return Err(StoreError::corrupt("refused"));
            }
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_rolls_back_alone_and_writes_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let w = Arc::new(writer(&dir));
        let writes = (0..200).map(|v| {
            let w = w.clone();
            tokio::spawn(async move { w.write(insert(v, v % 10 == 0)).await })
        });
        let results = futures_util::future::join_all(writes).await;
        let failed = results
            .iter()
            .filter(|r| r.as_ref().unwrap().is_err())
            .count();
        assert_eq!(failed, 20);
        let (count, bad): (i64, i64) = w
            .write(|c| {
                c.query_row(
                    "SELECT COUNT(*), COUNT(*) FILTER (WHERE v % 10 = 0) FROM t",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db)
            })
            .await
            .unwrap();
        assert_eq!((count, bad), (180, 0), "each failed write undone, no other");
        let s = w.stats();
        assert_eq!(s.writes, 201);
        assert!(
            s.commits < s.writes,
            "concurrent writes share commits: {s:?}"
        );
    }
}
