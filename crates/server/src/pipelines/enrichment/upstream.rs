//! One remote metadata service as the providers see it: every request is
//! rate limited, bounded in number, timed out and retried with backoff;
//! `Retry-After` is honoured; after repeated transport failures the service
//! is skipped for a while so that an offline server fails fast.

use super::limiter::RateLimiter;
use crate::pipelines::outbound::{self, BodyError};
use backon::{ExponentialBuilder, Retryable};
use serde_json::Value;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Consecutive transport failures that open the circuit.
const BREAKER_THRESHOLD: u32 = 3;
/// How long an open circuit answers "unavailable" without trying.
const BREAKER_OPEN_FOR: Duration = Duration::from_secs(60);
/// Longest `Retry-After` obeyed; a longer one makes the source unavailable.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Of a refusal's body, only this much is read (to look for "quota").
const ERROR_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub name: &'static str,
    pub per_second: f64,
    pub timeout: Duration,
    pub retries: usize,
    pub max_in_flight: usize,
    pub user_agent: String,
    /// `--max-upstream-bytes`: one response body.
    pub max_body_bytes: usize,
    /// Sent with every request (an API key, marked sensitive).
    pub headers: reqwest::header::HeaderMap,
}

pub enum Fetch {
    Json(Value),
    NotFound,
    Unavailable(String),
}

pub struct Upstream {
    pub name: &'static str,
    client: reqwest::Client,
    limiter: RateLimiter,
    in_flight: Semaphore,
    timeout: Duration,
    retries: usize,
    max_body_bytes: usize,
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
    /// Requests sent, for tests and metrics.
    pub requests: AtomicU64,
}

impl Upstream {
    pub fn new(c: UpstreamConfig) -> Upstream {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(c.user_agent)
            .default_headers(c.headers)
            .redirect(outbound::same_origin_redirects())
            .connect_timeout(c.timeout)
            .build()
            .expect("HTTP client builds");
        Upstream {
            name: c.name,
            client,
            limiter: RateLimiter::new(c.per_second),
            in_flight: Semaphore::new(c.max_in_flight.max(1)),
            timeout: c.timeout,
            retries: c.retries,
            max_body_bytes: c.max_body_bytes,
            failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
            requests: AtomicU64::new(0),
        }
    }

    fn circuit_open(&self) -> bool {
        let guard = self
            .open_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.is_some_and(|until| Instant::now() < until)
    }

    fn transport_failed(&self) {
        if self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= BREAKER_THRESHOLD {
            *self
                .open_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(Instant::now() + BREAKER_OPEN_FOR);
        }
    }

    /// Retries transport failures, 5xx and rate limiting with jittered
    /// exponential backoff; a `Retry-After` replaces the backoff's delay
    /// (the limiter then holds every request to this service back).
    pub async fn get_json(&self, url: &reqwest::Url) -> Fetch {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(8))
            .with_max_times(self.retries)
            .with_jitter();
        let attempt = || self.attempt(url);
        attempt
            .retry(backoff)
            .when(Failure::retryable)
            .adjust(|f, delay| match f {
                Failure::Paused(_) => delay.map(|_| Duration::ZERO),
                _ => delay,
            })
            .notify(|f, delay| {
                tracing::debug!(source = self.name, error = %f, ?delay, "retrying");
            })
            .await
            .unwrap_or_else(|f| Fetch::Unavailable(f.to_string()))
    }

    /// One request, as the circuit breaker and the rate limiter allow it.
    async fn attempt(&self, url: &reqwest::Url) -> Result<Fetch, Failure> {
        if self.circuit_open() {
            return Err(Failure::Final(format!(
                "{} is unreachable (skipped after {BREAKER_THRESHOLD} failed attempts)",
                self.name
            )));
        }
        // The job this request is for, if its task said (`limiter::LANE`).
        let lane = super::limiter::LANE.try_with(|l| *l).unwrap_or_default();
        self.limiter.acquire(lane).await;
        let resp = self.send(url).await?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => match outbound::read_capped(resp, self.max_body_bytes).await {
                Ok(body) => match serde_json::from_slice::<Value>(&body) {
                    Ok(v) => Ok(Fetch::Json(v)),
                    Err(_) => Err(Failure::Final(format!("{} sent malformed JSON", self.name))),
                },
                Err(e @ BodyError::TooLarge(_)) => {
                    Err(Failure::Final(format!("{}: {e}", self.name)))
                }
                Err(BodyError::Read(e)) => Err(Failure::Transient(format!(
                    "{} broke off its answer: {}",
                    self.name,
                    root_cause(&e)
                ))),
            },
            300..=399 => Err(Failure::Final(format!(
                "{} redirected to another host (HTTP {status}); not followed",
                self.name
            ))),
            404 => Ok(Fetch::NotFound),
            429 | 503 => Err(self.rate_limited(retry_after(&resp), status)),
            500..=599 => Err(Failure::Transient(format!(
                "{} failed (HTTP {status})",
                self.name
            ))),
            _ => {
                // 400 (quota, bad key), 401, 403: retrying cannot help.
                let body = outbound::read_capped(resp, ERROR_BODY_BYTES)
                    .await
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let why = if body.to_lowercase().contains("quota") {
                    "quota exhausted"
                } else {
                    "refused the request"
                };
                Err(Failure::Final(format!(
                    "{} {why} (HTTP {status})",
                    self.name
                )))
            }
        }
    }

    /// Sends within the bound on requests in flight; a transport failure
    /// counts toward opening the circuit.
    async fn send(&self, url: &reqwest::Url) -> Result<reqwest::Response, Failure> {
        let sent = {
            let _permit = self
                .in_flight
                .acquire()
                .await
                .expect("semaphore never closed");
            self.requests.fetch_add(1, Ordering::Relaxed);
            self.client
                .get(url.clone())
                .timeout(self.timeout)
                .send()
                .await
        };
        match sent {
            Ok(r) => {
                self.failures.store(0, Ordering::Relaxed);
                Ok(r)
            }
            Err(e) => {
                self.transport_failed();
                Err(Failure::Transient(if e.is_timeout() {
                    format!("{} timed out", self.name)
                } else {
                    format!("{} unreachable: {}", self.name, root_cause(&e))
                }))
            }
        }
    }

    /// A 429 or 503: a `Retry-After` we can wait out pauses every request
    /// to this service; a longer one gives up on it for this book.
    fn rate_limited(&self, retry_after: Option<Duration>, status: u16) -> Failure {
        let message = format!("{} is rate limiting (HTTP {status})", self.name);
        match retry_after {
            Some(a) if a > MAX_RETRY_AFTER => Failure::Final(message),
            Some(a) => {
                self.limiter.pause_for(a);
                Failure::Paused(message)
            }
            None => Failure::Transient(message),
        }
    }
}

/// Why one attempt gave no answer; its text is the `Unavailable` reason
/// once retrying stops.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// Worth another attempt after the backoff's delay.
    #[error("{0}")]
    Transient(String),
    /// Worth another attempt as soon as the limiter allows: it already
    /// holds every request back by the service's `Retry-After`.
    #[error("{0}")]
    Paused(String),
    /// Retrying cannot help.
    #[error("{0}")]
    Final(String),
}

impl Failure {
    fn retryable(&self) -> bool {
        !matches!(self, Failure::Final(_))
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
