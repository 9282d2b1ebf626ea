//! `POST /api/synthetic/jobs`, mounted only with `--enable-synthetic-jobs`
//! (docs/PROTOCOL.md §4.9; `crates/server/src/http/synthetic.rs`).

use crate::http::synthetic::{StartSynthetic, SyntheticJobs};
use bookstrack_protocol::{ApiFailure, ApiSuccess};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(start))]
pub struct Paths;

/// Start synthetic load-test jobs (only with `--enable-synthetic-jobs`)
///
/// Otherwise the path is not routed (404, empty body).
#[utoipa::path(
    post, path = "/api/synthetic/jobs", tag = "jobs",
    request_body = StartSynthetic,
    responses(
        (status = 202, description = "the jobs' ids and tokens", body = ApiSuccess<SyntheticJobs>),
        (status = 400, description = "`INVALID_REQUEST`: a bad body, or `count` not 1 to 1000", body = ApiFailure),
        (status = 401, description = "`UNAUTHORIZED`: the server requires job-creation credentials and none valid were sent", body = ApiFailure),
        (status = 404, description = "the server runs without `--enable-synthetic-jobs` (empty body)"),
        (status = 408, description = "`REQUEST_TIMEOUT`: the body stopped arriving", body = ApiFailure),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: a body over its limit", body = ApiFailure),
        (status = 429, description = "`RATE_LIMITED`: over the jobs the server may hold; see `Retry-After`", body = ApiFailure),
        (status = 500, description = "`INTERNAL_ERROR`", body = ApiFailure),
        (status = 503, description = "`INTERNAL_ERROR`: the server cannot take the jobs now; see `Retry-After`", body = ApiFailure),
    )
)]
fn start() {}
