//! Job quotas (issue 17): jobs not yet ended per client address
//! (`--max-jobs-per-client`) and in all (`--max-active-jobs`), and a
//! job-start rate per client address (`--job-start-rate`, a token bucket
//! with `--job-start-burst`). Past any of them a job-creating request gets
//! 429 `RATE_LIMITED` with `Retry-After`, before its body is read.
//!
//! A job holds its [`Slot`] from its request until its pipeline ends
//! ([`Held`]), so a job queued behind `--max-running-jobs` counts too.
//! Jobs recovered after a restart count in the total only (the address
//! that started them is not stored). Synthetic jobs, mounted only by
//! `--enable-synthetic-jobs` for load generators, are outside the quotas.

use crate::api_error::ApiErr;
use crate::config::Config;
use crate::job::{JobContext, JobRunner, Run};
use axum::http::StatusCode;
use bookstrack_protocol::ErrorCode;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// When a client or the server at its job limit may try again: a slot
/// frees only when a job ends, which cannot be foreseen.
pub const FULL_RETRY: Duration = Duration::from_secs(10);

/// Start-rate buckets kept before the full ones (as good as absent) are
/// dropped: the map stays small however many addresses come and go.
const BUCKETS_BEFORE_PRUNE: usize = 4096;

/// `--max-jobs-per-client`, `--max-active-jobs`, `--job-start-rate` and
/// `--job-start-burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionLimits {
    pub per_client: usize,
    pub total: usize,
    /// Job starts per second per client, on average…
    pub start_rate: f64,
    /// …with this many at once.
    pub start_burst: usize,
}

impl AdmissionLimits {
    pub fn of(config: &Config) -> AdmissionLimits {
        AdmissionLimits {
            per_client: config.max_jobs_per_client,
            total: config.max_active_jobs,
            start_rate: config.job_start_rate,
            start_burst: config.job_start_burst,
        }
    }
}

/// Why a job was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("this client already has {0} jobs that have not ended")]
    ClientFull(usize),
    #[error("the server already has {0} jobs that have not ended")]
    ServerFull(usize),
    #[error("this client is starting jobs faster than the server allows")]
    Rate(Duration),
}

impl Refused {
    pub fn into_api_err(self) -> ApiErr {
        let wait = match self {
            Refused::Rate(wait) => wait,
            Refused::ClientFull(_) | Refused::ServerFull(_) => FULL_RETRY,
        };
        ApiErr::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            self.to_string(),
        )
        .retry_after(wait)
    }
}

/// The client a quota counts by: an IPv4 address, or an IPv6 address's
/// /64 (one host usually has the whole /64, and picks from it freely).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    buckets: HashMap<IpAddr, Bucket>,
}

/// The quotas' counts, shared by every job-creating handler.
pub struct Admission {
    limits: AdmissionLimits,
    counts: Mutex<Counts>,
}

impl Admission {
    pub fn new(limits: AdmissionLimits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            counts: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Plain counters: a panic elsewhere cannot leave them half written.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for a new job of `client` (`None`: an in-process caller), or
    /// why not. A refused request spends no start token.
    pub fn admit(self: &Arc<Self>, client: Option<IpAddr>) -> Result<Slot, Refused> {
        self.admit_at(client, Instant::now())
    }

    fn admit_at(self: &Arc<Self>, client: Option<IpAddr>, now: Instant) -> Result<Slot, Refused> {
        let l = self.limits;
        let key = client.map(client_key);
        let mut c = self.lock();
        if c.total >= l.total {
            return Err(Refused::ServerFull(l.total));
        }
        if let Some(k) = key {
            if c.per_client.get(&k).copied().unwrap_or(0) >= l.per_client {
                return Err(Refused::ClientFull(l.per_client));
            }
            take_start(&mut c, l, k, now)?;
            *c.per_client.entry(k).or_default() += 1;
        }
        c.total += 1;
        Ok(Slot {
            admission: self.clone(),
            client: key,
        })
    }

    /// A slot that no quota refuses: a job recovered after a restart.
    pub fn recovered(self: &Arc<Self>) -> Slot {
        self.lock().total += 1;
        Slot {
            admission: self.clone(),
            client: None,
        }
    }

    /// Jobs not yet ended, in all and of `client`.
    pub fn held(&self, client: Option<IpAddr>) -> (usize, usize) {
        let c = self.lock();
        let mine = client
            .map(client_key)
            .and_then(|k| c.per_client.get(&k).copied())
            .unwrap_or(0);
        (c.total, mine)
    }

    fn release(&self, client: Option<IpAddr>) {
        let mut c = self.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(k) = client {
            if let Some(n) = c.per_client.get_mut(&k) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.per_client.remove(&k);
                }
            }
        }
    }
}

/// Spends one start token of `key`'s bucket, or says how long until one.
fn take_start(
    c: &mut Counts,
    l: AdmissionLimits,
    key: IpAddr,
    now: Instant,
) -> Result<(), Refused> {
    let rate = l.start_rate.max(f64::MIN_POSITIVE);
    let burst = l.start_burst.max(1) as f64;
    let refill = |b: &Bucket| {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + elapsed * rate).min(burst)
    };
    if c.buckets.len() >= BUCKETS_BEFORE_PRUNE && !c.buckets.contains_key(&key) {
        c.buckets.retain(|_, b| refill(b) < burst);
    }
    let b = c.buckets.entry(key).or_insert(Bucket {
        tokens: burst,
        at: now,
    });
    b.tokens = refill(b);
    b.at = now;
    if b.tokens < 1.0 {
        let wait = ((1.0 - b.tokens) / rate).min(3600.0);
        return Err(Refused::Rate(Duration::from_secs_f64(wait)));
    }
    b.tokens -= 1.0;
    Ok(())
}

/// One job's place in the quotas, given back when dropped.
pub struct Slot {
    admission: Arc<Admission>,
    client: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.release(self.client);
    }
}

/// A job's runner with its [`Slot`]: the slot goes when the pipeline's run
/// ends (or when the runner is dropped unstarted, at shutdown).
pub struct Held {
    pub runner: Box<dyn JobRunner>,
    pub slot: Slot,
}

impl JobRunner for Held {
    fn start(self: Box<Self>, ctx: JobContext) -> Run {
        let Held { runner, slot } = *self;
        match runner.start(ctx) {
            Run::Blocking(f) => Run::Blocking(Box::new(move || {
                let _slot = slot;
                f()
            })),
            Run::Task(fut) => Run::Task(Box::pin(async move {
                let _slot = slot;
                fut.await
            })),
        }
    }

    fn remote(&self) -> bool {
        self.runner.remote()
    }
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
