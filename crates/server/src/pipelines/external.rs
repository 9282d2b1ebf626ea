//! An external job: its work runs in another service, whose publisher
//! sends its events over HTTP (docs/PROTOCOL.md §21, `http/publish.rs`).
//! The runner here is what stands in for a pipeline under the job's owner:
//! it takes the publisher's requests in order, holds the job to its
//! publish rate, and fails the job when the publisher has gone silent.
//! Every rule on the events themselves is the owner's
//! (`job/owner/publish.rs`), as for the built-in pipelines.

use crate::config::PublishConfig;
use crate::job::{
    JobContext, JobFailure, JobRunner, PublishAnswer, PublishBatch, Run, Stopped, Verdict,
};
use crate::store::TokenRecord;
use bookstrack_protocol::{ErrorCode, Pipeline};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Stored as `{"runner":"external","jobId":..,"pipeline":..,"totalCount":..,"client":..}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSpec {
    /// The registry key its publisher's requests are routed by.
    pub job_id: String,
    /// The label of its events: one of the three real pipelines.
    pub pipeline: Pipeline,
    #[serde(default)]
    pub total_count: u64,
    /// The address that created it, for the per-client limit.
    #[serde(default)]
    pub client: Option<IpAddr>,
}

/// Requests waiting for a job's runner. Small: a publisher waits for each
/// answer, and a flood is held by the rate limit before it gets here.
const CALLS_QUEUED: usize = 8;

struct Live {
    calls: mpsc::Sender<PublishBatch>,
    client: Option<IpAddr>,
    /// The publisher key's record, once read from the store: a publish then
    /// costs no read (measured: the read's thread hop was a fifth of the
    /// server's CPU per published event, BENCHMARKS.md).
    key: Option<TokenRecord>,
}

/// The external jobs of this server whose owner is live, by job id, and how
/// many each client address holds. Shared by the HTTP handlers and the runners.
#[derive(Default)]
pub struct Publishers {
    live: Mutex<HashMap<String, Live>>,
    per_client: Mutex<HashMap<IpAddr, usize>>,
}

/// More external jobs than a client may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this client already holds {0} external jobs that have not ended")]
pub struct TooManyJobs(pub usize);

type CallRx = mpsc::Receiver<PublishBatch>;

impl Publishers {
    /// Takes a slot for `client`, refused past `limit` (`None`: a job
    /// recovered after a restart, which already held its slot).
    fn register(
        self: &Arc<Self>,
        spec: &ExternalSpec,
        limit: Option<usize>,
    ) -> Result<(Registration, CallRx), TooManyJobs> {
        if let Some(ip) = spec.client {
            let mut counts = self.per_client.lock().expect("per-client counts");
            let held = counts.entry(ip).or_default();
            if let Some(limit) = limit.filter(|l| *held >= *l) {
                return Err(TooManyJobs(limit));
            }
            *held += 1;
        }
        let (tx, rx) = mpsc::channel(CALLS_QUEUED);
        self.live.lock().expect("live publishers").insert(
            spec.job_id.clone(),
            Live {
                calls: tx,
                client: spec.client,
                key: None,
            },
        );
        let reg = Registration {
            publishers: self.clone(),
            job_id: spec.job_id.clone(),
        };
        Ok((reg, rx))
    }

    /// Where to send a request for `job_id`, if its owner is live.
    pub fn sender(&self, job_id: &str) -> Option<mpsc::Sender<PublishBatch>> {
        let live = self.live.lock().expect("live publishers");
        live.get(job_id).map(|l| l.calls.clone())
    }

    /// The live job's publisher key record, if read before.
    pub fn cached_key(&self, job_id: &str) -> Option<TokenRecord> {
        let live = self.live.lock().expect("live publishers");
        live.get(job_id).and_then(|l| l.key.clone())
    }

    /// Keeps a record read from the store, unless one is kept already: a
    /// refresh that landed meanwhile ([`Publishers::replace_key`]) wins.
    pub fn cache_key(&self, job_id: &str, record: TokenRecord) {
        let mut live = self.live.lock().expect("live publishers");
        if let Some(l) = live.get_mut(job_id) {
            l.key.get_or_insert(record);
        }
    }

    /// After a refresh has replaced the key in the store.
    pub fn replace_key(&self, job_id: &str, record: TokenRecord) {
        let mut live = self.live.lock().expect("live publishers");
        if let Some(l) = live.get_mut(job_id) {
            l.key = Some(record);
        }
    }

    /// External jobs not yet ended that `ip` holds.
    pub fn held_by(&self, ip: IpAddr) -> usize {
        let counts = self.per_client.lock().expect("per-client counts");
        counts.get(&ip).copied().unwrap_or(0)
    }

    fn release(&self, job_id: &str) {
        let gone = self.live.lock().expect("live publishers").remove(job_id);
        if let Some(ip) = gone.and_then(|l| l.client) {
            let mut counts = self.per_client.lock().expect("per-client counts");
            if let Some(n) = counts.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.remove(&ip);
                }
            }
        }
    }
}

/// A live external job's place in [`Publishers`], given back when its
/// runner ends (the job ended, or the server is shutting down).
struct Registration {
    publishers: Arc<Publishers>,
    job_id: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.publishers.release(&self.job_id);
    }
}

/// What an external job's runner is built with.
#[derive(Clone)]
pub struct ExternalDeps {
    pub publishers: Arc<Publishers>,
    pub config: PublishConfig,
    /// Whether the per-client limit applies: not to jobs being recovered.
    pub enforce_client_limit: bool,
}

pub struct External {
    total: u64,
    calls: CallRx,
    _registration: Registration,
    rate: TokenBucket,
    silence: Duration,
}

impl External {
    pub fn build(spec: ExternalSpec, deps: &ExternalDeps) -> Result<External, TooManyJobs> {
        let limit = deps
            .enforce_client_limit
            .then_some(deps.config.max_jobs_per_client);
        let (registration, calls) = deps.publishers.register(&spec, limit)?;
        let burst = (2 * deps.config.max_events).max(1) as f64;
        Ok(External {
            total: spec.total_count,
            calls,
            _registration: registration,
            rate: TokenBucket::new(deps.config.rate_per_job, burst),
            silence: deps.config.publisher_timeout,
        })
    }

    async fn run(mut self, ctx: JobContext) -> Result<Verdict, Stopped> {
        ctx.started_async(self.total).await?;
        let cancelled = ctx.cancelled();
        tokio::pin!(cancelled);
        loop {
            let deadline = tokio::time::sleep(self.silence);
            // A request that is there wins over the deadline it beat.
            tokio::select! {
                biased;
                batch = self.calls.recv() => {
                    let Some(batch) = batch else { return Err(Stopped) };
                    let n = batch.events.len() as f64;
                    if let Err(wait) = self.rate.take(n, Instant::now()) {
                        let _ = batch.reply.send(PublishAnswer::RateLimited(wait));
                        continue;
                    }
                    ctx.publish(batch).await?;
                }
                () = deadline => {
                    return Ok(Err(JobFailure::new(
                        ErrorCode::ProcessingFailed,
                        format!(
                            "publisher went away: nothing was published for {} s",
                            self.silence.as_secs()
                        ),
                    )));
                }
                () = &mut cancelled => return Err(Stopped),
            }
        }
    }
}

impl JobRunner for External {
    fn start(self: Box<Self>, ctx: JobContext) -> Run {
        Run::Task(Box::pin(self.run(ctx)))
    }

    fn remote(&self) -> bool {
        true
    }
}

/// Events per second with a burst: `take` spends, or says how long until
/// it could.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64) -> TokenBucket {
        TokenBucket {
            rate: rate.max(f64::MIN_POSITIVE),
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    fn take(&mut self, n: f64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
        if n <= self.tokens {
            self.tokens -= n;
            return Ok(());
        }
        Err(Duration::from_secs_f64(
            ((n - self.tokens) / self.rate).min(3600.0),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_its_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 20.0);
        assert!(b.take(20.0, t0).is_ok(), "the burst");
        let wait = b.take(1.0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        assert!(b.take(5.0, t0 + Duration::from_millis(500)).is_ok());
        assert!(b.take(1.0, t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn a_client_holds_at_most_its_limit_and_gets_slots_back() {
        let p = Arc::new(Publishers::default());
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let spec = |n: u32| ExternalSpec {
            job_id: format!("j{n}"),
            pipeline: Pipeline::CsvImport,
            total_count: 0,
            client: Some(ip),
        };
        let a = p.register(&spec(1), Some(2)).unwrap();
        let b = p.register(&spec(2), Some(2)).unwrap();
        assert_eq!(p.register(&spec(3), Some(2)).err(), Some(TooManyJobs(2)));
        assert!(
            p.register(&spec(4), None).is_ok(),
            "a recovered job always registers"
        );
        assert_eq!(
            p.held_by(ip),
            2,
            "the recovered job's registration was dropped"
        );
        drop(a);
        assert_eq!(p.held_by(ip), 1);
        assert!(p.sender("j1").is_none() && p.sender("j2").is_some());
        drop(b);
        assert_eq!(p.held_by(ip), 0);
    }
}
