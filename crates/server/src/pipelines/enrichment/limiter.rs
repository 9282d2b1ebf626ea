//! The request rate to one provider, shared by every job of the server so
//! that the provider sees one polite client, and shared fairly: the turns
//! go round-robin across client addresses, and within one client across
//! its jobs, so one client's 1000-book job cannot hold another's few books
//! behind it (issue 17). Each request waits in its job's queue ([`Lane`]);
//! one dispatcher task hands out a turn per interval.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Added to every interval between two requests to one provider.
pub const SAFETY_GAP: Duration = Duration::from_millis(50);

/// Whose request this is: the client address that started the job (`None`
/// for one the server started itself) and the job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Lane {
    pub client: Option<IpAddr>,
    pub job: u64,
}

tokio::task_local! {
    /// The lane of the enrichment job this task works for, set around its
    /// lookups (`enrichment/mod.rs`), read where a request waits for its
    /// turn (`upstream.rs`): the providers between need not know it.
    pub static LANE: Lane;
}

/// One client's jobs with requests waiting, in turn order.
#[derive(Default)]
struct ClientQueue {
    jobs: VecDeque<u64>,
    waiting: HashMap<u64, VecDeque<oneshot::Sender<()>>>,
}

struct State {
    /// The earliest the next turn may be handed out.
    next: Instant,
    clients: VecDeque<Option<IpAddr>>,
    queues: HashMap<Option<IpAddr>, ClientQueue>,
    /// Whether a dispatcher task is running.
    dispatching: bool,
}

impl State {
    /// The next waiter, round-robin by client then by job.
    fn pop_turn(&mut self) -> Option<oneshot::Sender<()>> {
        let client = self.clients.pop_front()?;
        let q = self.queues.get_mut(&client)?;
        let job = q.jobs.pop_front()?;
        let w = q.waiting.get_mut(&job)?;
        let turn = w.pop_front();
        if w.is_empty() {
            q.waiting.remove(&job);
        } else {
            q.jobs.push_back(job);
        }
        if q.jobs.is_empty() {
            self.queues.remove(&client);
        } else {
            self.clients.push_back(client);
        }
        turn
    }

    fn push(&mut self, lane: Lane, tx: oneshot::Sender<()>) {
        let q = self.queues.entry(lane.client).or_insert_with(|| {
            self.clients.push_back(lane.client);
            ClientQueue::default()
        });
        let w = q.waiting.entry(lane.job).or_insert_with(|| {
            q.jobs.push_back(lane.job);
            VecDeque::new()
        });
        w.push_back(tx);
    }
}

struct Shared {
    interval: Duration,
    /// A std mutex: held only to queue or pick a waiter, never across an await.
    state: Mutex<State>,
}

pub struct RateLimiter {
    shared: Arc<Shared>,
}

impl RateLimiter {
    /// `per_second` requests a second at most, with no burst: spacing is what
    /// a provider's per-second limit measures.
    pub fn new(per_second: f64) -> RateLimiter {
        // The provider counts arrivals, which jitter: a request delayed on
        // the way shrinks the gap to the next ones. The safety gap lets three
        // consecutive requests absorb ~150 ms of it (measured: with a 5%
        // margin instead, a loaded machine drew one 429 in some runs).
        let interval = Duration::from_secs_f64(1.0 / per_second.max(0.001)) + SAFETY_GAP;
        RateLimiter {
            shared: Arc::new(Shared {
                interval,
                state: Mutex::new(State {
                    next: Instant::now(),
                    clients: VecDeque::new(),
                    queues: HashMap::new(),
                    dispatching: false,
                }),
            }),
        }
    }

    /// Waits for this request's turn among the lanes waiting.
    pub async fn acquire(&self, lane: Lane) {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut s = self.shared.lock();
            s.push(lane, tx);
            !std::mem::replace(&mut s.dispatching, true)
        };
        if start {
            tokio::spawn(dispatch(self.shared.clone()));
        }
        // The dispatcher only ends once no one waits, so the turn comes.
        let _ = rx.await;
    }

    /// Pushes every later request back (a provider said `Retry-After`).
    pub fn pause_for(&self, d: Duration) {
        let mut s = self.shared.lock();
        s.next = s.next.max(Instant::now() + d);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Queues and an instant: a panic elsewhere cannot leave them half written.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Ends the dispatcher's duty if its task is dropped unfinished (the
/// runtime shutting down): the waiters are let go rather than left waiting
/// for a turn nobody will hand out, which kept a blocking enrichment
/// thread, and so the runtime's shutdown, waiting forever.
struct Duty {
    shared: Arc<Shared>,
    done: bool,
}

impl Drop for Duty {
    fn drop(&mut self) {
        if !self.done {
            let mut s = self.shared.lock();
            s.dispatching = false;
            s.clients.clear();
            s.queues.clear();
        }
    }
}

/// Hands out one turn per interval while anyone waits, then ends. A waiter
/// that gave up (its job was cancelled) costs no turn.
async fn dispatch(shared: Arc<Shared>) {
    let mut duty = Duty {
        shared: shared.clone(),
        done: false,
    };
    loop {
        let wait_until = {
            let mut s = shared.lock();
            let now = Instant::now();
            if s.next <= now {
                loop {
                    let Some(turn) = s.pop_turn() else {
                        s.dispatching = false;
                        duty.done = true;
                        return;
                    };
                    if turn.send(()).is_ok() {
                        s.next = now + shared.interval;
                        break;
                    }
                }
            }
            s.next
        };
        tokio::time::sleep_until(wait_until).await;
    }
}

#[cfg(test)]
#[path = "limiter_tests.rs"]
mod tests;
