//! How hard the SDK tries: reconnect backoff and HTTP resync retries.

use rand::Rng;
use std::time::Duration;

/// Backoff between reconnect attempts: `base * 2^n` capped at `cap`, at
/// most `max_attempts`, each delay jittered by up to ±`jitter` of itself
/// so that many clients dropped at once do not return at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReconnectPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
    pub jitter: f64,
}

impl Default for ReconnectPolicy {
    /// docs/PROTOCOL.md §18: 1, 2, 4, 8, 16 s (cap 30 s), at most 5 attempts.
    fn default() -> Self {
        ReconnectPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            max_attempts: 5,
            jitter: 0.2,
        }
    }
}

impl ReconnectPolicy {
    /// The un-jittered delay before attempt `n` (0-based).
    pub fn nominal(&self, n: u32) -> Duration {
        self.base.saturating_mul(1u32 << n.min(16)).min(self.cap)
    }

    pub fn delay(&self, n: u32) -> Duration {
        let d = self.nominal(n).as_secs_f64();
        let j = if self.jitter > 0.0 {
            rand::rng().random_range(-self.jitter..=self.jitter)
        } else {
            0.0
        };
        Duration::from_secs_f64((d * (1.0 + j)).max(0.0)).min(self.cap)
    }
}

/// Retries of `GET /api/job-state` after a reconnect failed: `tries` in
/// all, waiting `waits[i]` after the i-th failed try; only 5xx and
/// transport errors are retried, never a 4xx.
#[derive(Debug, Clone, PartialEq)]
pub struct ResyncPolicy {
    pub tries: u32,
    pub waits: Vec<Duration>,
}

impl Default for ResyncPolicy {
    /// docs/PROTOCOL.md §18: 3 tries, waiting 1, 2, 4 s.
    fn default() -> Self {
        ResyncPolicy {
            tries: 3,
            waits: [1, 2, 4].map(Duration::from_secs).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_backoff() {
        let p = ReconnectPolicy::default();
        let d: Vec<u64> = (0..7).map(|n| p.nominal(n).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 30, 30]);
        for n in 0..5 {
            let j = p.delay(n).as_secs_f64();
            let nominal = p.nominal(n).as_secs_f64();
            assert!(j >= nominal * 0.8 - 1e-9 && j <= (nominal * 1.2).min(30.0) + 1e-9);
        }
    }
}
