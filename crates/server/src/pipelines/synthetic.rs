//! A job that reports a fixed number of progress steps at a fixed pace.
//!
//! It exercises the owner, persistence and fan-out exactly as a real pipeline
//! does, without depending on input files: the load generator of
//! `bookstrack-bench` and the hub's tests drive it. It runs as a task, not on
//! a thread, so the load generator can keep ten thousand of them going.

use crate::job::{JobContext, JobFailure, JobRunner, ProgressReport, Run, Stopped, Verdict};
use bookstrack_protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Its own spec, stored as `{"runner":"synthetic","steps":..,"intervalMs":..,
/// "failAfter":..,"stamp":..,"phaseUs":..}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Synthetic {
    pub steps: u64,
    #[serde(rename = "intervalMs", default, with = "millis")]
    pub interval: Duration,
    /// Fail with PROCESSING_FAILED after this many steps, if set.
    #[serde(default)]
    pub fail_after: Option<u64>,
    /// Put the wall-clock time of each report, in microseconds since the
    /// epoch, in `currentTitle`: the load generator measures latency from it.
    #[serde(default)]
    pub stamp: bool,
    /// Where in each interval the steps fall, on the wall clock (steps at
    /// Unix time ≡ phase modulo the interval); `None`: one interval after
    /// the job starts. Jobs started together would otherwise step together,
    /// and a load test would offer its load in bursts.
    #[serde(rename = "phaseUs", default, with = "micros")]
    pub phase: Option<Duration>,
}

/// `intervalMs`: whole milliseconds.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// `phaseUs`: whole microseconds, or null.
mod micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_micros() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|o| o.map(Duration::from_micros))
    }
}

impl Synthetic {
    async fn run(self, ctx: JobContext) -> Result<Verdict, Stopped> {
        ctx.started_async(self.steps).await?;
        let mut ticker = (!self.interval.is_zero()).then(|| {
            let now = tokio::time::Instant::now();
            let first = now.checked_add(self.until_phase()).unwrap_or(now);
            let mut t = tokio::time::interval_at(first, self.interval);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        let cancelled = ctx.cancelled();
        tokio::pin!(cancelled);
        if let Some(t) = ticker.as_mut() {
            tokio::select! {
                _ = t.tick() => {}
                _ = &mut cancelled => return Err(Stopped),
            }
        }
        for step in ctx.resume.cursor..self.steps {
            if let Some(t) = ticker.as_mut() {
                tokio::select! {
                    _ = t.tick() => {}
                    _ = &mut cancelled => return Err(Stopped),
                }
            }
            if self.fail_after == Some(step) {
                return Ok(Err(JobFailure::new(
                    ErrorCode::ProcessingFailed,
                    format!("synthetic failure at step {step}"),
                )));
            }
            let done = step + 1;
            let current_title = self.stamp.then(|| wall_us().to_string());
            ctx.report(ProgressReport {
                processed: done,
                success: done,
                failure: 0,
                status: format!("Step {done} of {}", self.steps),
                current_title,
                cursor: done,
                ..Default::default()
            })
            .await?;
        }
        Ok(Ok(Map::new()))
    }

    /// How long until the wall clock next reaches this job's phase.
    fn until_phase(&self) -> Duration {
        let Some(phase) = self.phase else {
            return Duration::ZERO;
        };
        let every = self.interval.as_micros().max(1);
        let now = wall_us();
        let wait = (phase.as_micros() % every + every - now % every) % every;
        Duration::from_micros(wait as u64)
    }
}

/// Microseconds since the Unix epoch: the stamps the load generator reads
/// and the clock the phases are set on.
fn wall_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros()
}

impl JobRunner for Synthetic {
    fn start(self: Box<Self>, ctx: JobContext) -> Run {
        Run::Task(Box::pin(self.run(ctx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_step_waits_for_the_phase_on_the_wall_clock() {
        let interval = Duration::from_millis(50);
        for phase_ms in [0u64, 10, 49, 60] {
            let s = Synthetic {
                steps: 1,
                interval,
                phase: Some(Duration::from_millis(phase_ms)),
                ..Default::default()
            };
            let before = wall_us();
            let wait = s.until_phase();
            let after = wall_us();
            assert!(wait < interval, "{wait:?}");
            // The wall clock plus the wait lands on the phase (modulo the
            // interval), give or take the time the call took.
            let want = (phase_ms as u128 * 1000) % 50_000;
            let landed = (before + wait.as_micros()) % 50_000;
            let slack = after - before + 1;
            let off = (landed + 50_000 - want) % 50_000;
            assert!(
                off <= slack || 50_000 - off <= slack,
                "phase {phase_ms} ms landed at {landed} µs"
            );
        }
        let unphased = Synthetic {
            interval,
            ..Default::default()
        };
        assert_eq!(unphased.until_phase(), Duration::ZERO);
    }

    #[test]
    fn the_phase_survives_the_spec() {
        let s = Synthetic {
            steps: 3,
            interval: Duration::from_millis(50),
            phase: Some(Duration::from_micros(12_345)),
            stamp: true,
            fail_after: None,
        };
        let spec = crate::pipelines::JobSpec::Synthetic(s.clone());
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["runner"], "synthetic");
        assert_eq!(json["intervalMs"], 50);
        assert_eq!(json["phaseUs"], 12_345);
        assert_eq!(
            serde_json::from_value::<crate::pipelines::JobSpec>(json).unwrap(),
            spec
        );
    }
}
