//! `POST /api/synthetic/jobs`: start synthetic jobs in bulk, for load tests.
//! Mounted only when the server runs with `--enable-synthetic-jobs`, so a
//! production server never exposes a way to start work without input.

use crate::api_error::ApiErr;
use crate::app::App;
use crate::clock;
use crate::pipelines::synthetic::Synthetic;
use crate::pipelines::JobSpec;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use bookstrack_protocol::{ApiSuccess, ErrorCode, MAX_COUNT};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Jobs one request may start: a load generator asks as often as it needs.
pub const MAX_SYNTHETIC_JOBS_PER_REQUEST: usize = 1000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartSynthetic {
    #[schema(minimum = 1, maximum = 1000)]
    count: usize,
    steps: u64,
    /// Any u64 (tests/it/synthetic.rs takes `u64::MAX`): not an `int64`.
    #[serde(default)]
    #[schema(format = "uint64")]
    interval_ms: u64,
    #[serde(default)]
    stamp: bool,
    /// Spread the jobs' steps evenly over their interval, job k of `count`
    /// at k/count of it, instead of stepping together.
    #[serde(default)]
    spread: bool,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyntheticJob {
    pub job_id: String,
    pub token: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyntheticJobs {
    pub jobs: Vec<SyntheticJob>,
}

/// Needs the API key when one is set, but is outside the job quotas: a
/// load test starts thousands of these from one address.
pub async fn start(
    State(app): State<Arc<App>>,
    _creator: crate::http::admitted::Creator,
    body: Result<Json<StartSynthetic>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<ApiSuccess<SyntheticJobs>>), ApiErr> {
    let Json(req) = body.map_err(|e| {
        ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            format!(
                "expected {{\"count\", \"steps\", \"intervalMs\"?, \"stamp\"?, \"spread\"?}}: {}",
                e.body_text()
            ),
        )
    })?;
    if req.count == 0 || req.count > MAX_SYNTHETIC_JOBS_PER_REQUEST {
        return Err(ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            format!(
                "count must be 1 to {MAX_SYNTHETIC_JOBS_PER_REQUEST}, not {}",
                req.count
            ),
        ));
    }
    if req.steps > MAX_COUNT {
        return Err(ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            format!("steps is at most {MAX_COUNT}"),
        ));
    }
    let interval = Duration::from_millis(req.interval_ms);
    let spec = |k: usize| {
        JobSpec::Synthetic(Synthetic {
            steps: req.steps,
            interval,
            fail_after: None,
            stamp: req.stamp,
            phase: req
                .spread
                .then(|| interval.mul_f64(k as f64 / req.count as f64)),
        })
    };
    // Started together so that their first writes share commits.
    let started = futures_util::future::join_all(
        (0..req.count).map(|k| app.start_job(App::new_job_id(), spec(k), None)),
    )
    .await;
    let mut jobs = Vec::with_capacity(req.count);
    for s in started {
        let s = s?;
        jobs.push(SyntheticJob {
            job_id: s.job_id,
            token: s.token,
        });
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(ApiSuccess::new(SyntheticJobs { jobs }, clock::now_ms())),
    ))
}
