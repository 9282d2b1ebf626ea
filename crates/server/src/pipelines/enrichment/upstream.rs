//! One remote metadata service as the providers see it: every request is
//! rate limited, bounded in number, timed out and retried with backoff;
//! `Retry-After` is honoured; after repeated transport failures the service
//! is skipped for a while so that an offline server fails fast.

use super::limiter::RateLimiter;
use backon::{BackoffBuilder, ExponentialBuilder};
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

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub name: &'static str,
    pub per_second: f64,
    pub timeout: Duration,
    pub retries: usize,
    pub max_in_flight: usize,
    pub user_agent: String,
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
            failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
            requests: AtomicU64::new(0),
        }
    }

    fn circuit_open(&self) -> bool {
        let guard = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
        guard.is_some_and(|until| Instant::now() < until)
    }

    fn transport_failed(&self) {
        if self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= BREAKER_THRESHOLD {
            *self.open_until.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Instant::now() + BREAKER_OPEN_FOR);
        }
    }

    pub async fn get_json(&self, url: &reqwest::Url) -> Fetch {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(8))
            .with_max_times(self.retries)
            .with_jitter()
            .build();
        let mut last: String;
        loop {
            if self.circuit_open() {
                return Fetch::Unavailable(format!(
                    "{} is unreachable (skipped after {BREAKER_THRESHOLD} failed attempts)",
                    self.name
                ));
            }
            self.limiter.acquire().await;
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
            let resp = match sent {
                Ok(r) => {
                    self.failures.store(0, Ordering::Relaxed);
                    r
                }
                Err(e) => {
                    self.transport_failed();
                    last = if e.is_timeout() {
                        format!("{} timed out", self.name)
                    } else {
                        format!("{} unreachable: {}", self.name, root_cause(&e))
                    };
                    match delays.next() {
                        Some(d) => {
                            tokio::time::sleep(d).await;
                            continue;
                        }
                        None => return Fetch::Unavailable(last),
                    }
                }
            };
            let status = resp.status().as_u16();
            match status {
                200..=299 => {
                    return match resp.json::<Value>().await {
                        Ok(v) => Fetch::Json(v),
                        Err(_) => Fetch::Unavailable(format!("{} sent malformed JSON", self.name)),
                    }
                }
                404 => return Fetch::NotFound,
                429 | 503 => {
                    let after = retry_after(&resp);
                    last = format!("{} is rate limiting (HTTP {status})", self.name);
                    if after.is_some_and(|a| a > MAX_RETRY_AFTER) {
                        return Fetch::Unavailable(last);
                    }
                    if let Some(a) = after {
                        self.limiter.pause_for(a).await;
                    }
                    match delays.next() {
                        Some(d) => {
                            if after.is_none() {
                                tokio::time::sleep(d).await;
                            }
                        }
                        None => return Fetch::Unavailable(last),
                    }
                }
                500..=599 => {
                    last = format!("{} failed (HTTP {status})", self.name);
                    match delays.next() {
                        Some(d) => tokio::time::sleep(d).await,
                        None => return Fetch::Unavailable(last),
                    }
                }
                _ => {
                    // 400 (quota, bad key), 401, 403: retrying cannot help.
                    let body = resp.text().await.unwrap_or_default();
                    let why = if body.to_lowercase().contains("quota") {
                        "quota exhausted"
                    } else {
                        "refused the request"
                    };
                    return Fetch::Unavailable(format!("{} {why} (HTTP {status})", self.name));
                }
            }
        }
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
