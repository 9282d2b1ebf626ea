//! A job that reports a fixed number of progress steps at a fixed pace.
//!
//! It exercises the owner, persistence and fan-out exactly as a real pipeline
//! does, without depending on input files: the load generator of
//! `bookstrack bench` and the hub's tests drive it.

use super::BuildError;
use crate::job::{JobContext, JobFailure, JobRunner, ProgressReport, Stopped};
use bookstrack_protocol::ErrorCode;
use serde_json::{json, Map, Value};
use std::time::Duration;

pub const RUNNER: &str = "synthetic";

#[derive(Debug, Clone, PartialEq)]
pub struct Synthetic {
    pub steps: u64,
    pub interval: Duration,
    /// Fail with PROCESSING_FAILED after this many steps, if set.
    pub fail_after: Option<u64>,
}

impl Synthetic {
    pub fn params(&self) -> Value {
        json!({
            "runner": RUNNER,
            "steps": self.steps,
            "intervalMs": self.interval.as_millis() as u64,
            "failAfter": self.fail_after,
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
        })
    }
}

impl JobRunner for Synthetic {
    fn run(
        self: Box<Self>,
        ctx: &JobContext,
    ) -> Result<Result<Map<String, Value>, JobFailure>, Stopped> {
        ctx.started(self.steps)?;
        for step in ctx.resume.cursor..self.steps {
            if !self.interval.is_zero() {
                std::thread::sleep(self.interval);
            }
            if self.fail_after == Some(step) {
                return Ok(Err(JobFailure::new(
                    ErrorCode::ProcessingFailed,
                    format!("synthetic failure at step {step}"),
                )));
            }
            let done = step + 1;
            ctx.progress(ProgressReport {
                processed: done,
                success: done,
                failure: 0,
                status: format!("Step {done} of {}", self.steps),
                cursor: done,
                ..Default::default()
            })?;
        }
        Ok(Ok(Map::new()))
    }
}
