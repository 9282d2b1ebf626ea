//! A token bucket that spaces requests to one provider, shared by every job
//! of the server so that the provider sees one polite client.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Added to every interval between two requests to one provider.
pub const SAFETY_GAP: Duration = Duration::from_millis(50);

pub struct RateLimiter {
    interval: Duration,
    /// A std mutex: it is held only to read and move the next slot, never
    /// across an await, so no request waits on it for long.
    next: Mutex<Instant>,
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
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        let at = {
            let mut next = self.next();
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// Pushes every later request back (a provider said `Retry-After`).
    pub fn pause_for(&self, d: Duration) {
        let mut next = self.next();
        *next = (*next).max(Instant::now() + d);
    }

    fn next(&self) -> MutexGuard<'_, Instant> {
        // The guarded value is a plain instant: a panic elsewhere cannot
        // leave it half written.
        self.next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests() {
        let l = RateLimiter::new(4.0);
        let t0 = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        let e = t0.elapsed();
        // Four intervals of 250 ms plus the safety gap each.
        assert!(
            e >= Duration::from_millis(1200) && e < Duration::from_millis(1250),
            "{e:?}"
        );
        l.pause_for(Duration::from_secs(5));
        let t1 = Instant::now();
        l.acquire().await;
        assert!(t1.elapsed() >= Duration::from_secs(5));
    }
}
