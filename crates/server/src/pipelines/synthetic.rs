//! A job that reports a fixed number of progress steps at a fixed pace.
//!
//! It exercises the owner, persistence and fan-out exactly as a real pipeline
//! does, without depending on input files: the load generator of
//! `bookstrack bench` and the hub's tests drive it. It runs as a task, not on
//! a thread, so the load generator can keep ten thousand of them going.

use super::BuildError;
use crate::job::{JobContext, JobFailure, JobRunner, ProgressReport, Run, Stopped, Verdict};
use bookstrack_protocol::ErrorCode;
use serde_json::{json, Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const RUNNER: &str = "synthetic";

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Synthetic {
    pub steps: u64,
    pub interval: Duration,
    /// Fail with PROCESSING_FAILED after this many steps, if set.
    pub fail_after: Option<u64>,
    /// Put the wall-clock time of each report, in microseconds since the
    /// epoch, in `currentTitle`: the load generator measures latency from it.
    pub stamp: bool,
}

impl Synthetic {
    pub fn params(&self) -> Value {
        json!({
            "runner": RUNNER,
            "steps": self.steps,
            "intervalMs": self.interval.as_millis() as u64,
            "failAfter": self.fail_after,
            "stamp": self.stamp,
        })
    }

    pub fn from_params(p: &Value) -> Result<Self, BuildError> {
        let steps = p
            .get("steps")
            .and_then(Value::as_u64)
            .ok_or_else(|| BuildError::BadParams("steps".into()))?;
        Ok(Synthetic {
            steps,
            interval: Duration::from_millis(
                p.get("intervalMs").and_then(Value::as_u64).unwrap_or(0),
            ),
            fail_after: p.get("failAfter").and_then(Value::as_u64),
            stamp: p.get("stamp").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    async fn run(self, ctx: JobContext) -> Result<Verdict, Stopped> {
        ctx.started_async(self.steps).await?;
        let mut ticker = (!self.interval.is_zero()).then(|| {
            let mut t = tokio::time::interval(self.interval);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        let cancelled = ctx.cancelled();
        tokio::pin!(cancelled);
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
            let current_title = self.stamp.then(|| {
                let us = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_micros();
                us.to_string()
            });
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
}

impl JobRunner for Synthetic {
    fn start(self: Box<Self>, ctx: JobContext) -> Run {
        Run::Task(Box::pin(self.run(ctx)))
    }
}
