//! `GET /api/job-state/{jobId}` and `GET /api/jobs/{jobId}/results`
//! (docs/PROTOCOL.md §4.5, §4.6; `crates/server/src/http/jobs.rs`).

use crate::openapi::schemas::{JobResults, JobStateError};
use bookstrack_protocol::{ApiFailure, ApiSuccess, JobState};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(job_state, results))]
pub struct Paths;

/// A job's state
///
/// The bare state, not enveloped (the iOS client decodes it directly);
/// fresher than the last checkpoint while the job runs. Its 401/404 bodies
/// are `{error, code}`, not the §2 envelope.
#[utoipa::path(
    get, path = "/api/job-state/{job_id}", tag = "jobs",
    params(("job_id" = String, Path, description = "the job's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the job state (§5.1)", body = JobState),
        (status = 401, description = "`INVALID_TOKEN` (no token or the wrong one) or `TOKEN_EXPIRED`", body = JobStateError),
        (status = 404, description = "`JOB_NOT_FOUND`", body = JobStateError),
        (status = 500, description = "`INTERNAL_ERROR`, in the §2 envelope", body = ApiFailure),
    )
)]
fn job_state() {}

/// A job's results so far
#[utoipa::path(
    get, path = "/api/jobs/{job_id}/results", tag = "jobs",
    params(("job_id" = String, Path, description = "the job's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "books, duplicates and row errors so far", body = ApiSuccess<JobResults>),
        (status = 401, description = "`INVALID_TOKEN` (`Unauthorized`) or `TOKEN_EXPIRED` (`Token expired`)", body = ApiFailure),
        (status = 404, description = "`JOB_NOT_FOUND`", body = ApiFailure),
        (status = 429, description = "`RATE_LIMITED`: `--max-results-streams` answers are streaming already; see `Retry-After`", body = ApiFailure),
        (status = 500, description = "`INTERNAL_ERROR`", body = ApiFailure),
    )
)]
fn results() {}
