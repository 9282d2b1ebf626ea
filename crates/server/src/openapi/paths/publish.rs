//! The publisher API (docs/PROTOCOL.md §21; `crates/server/src/http/publish.rs`):
//! create an external job, publish its events, rotate its key.

use crate::openapi::schemas::PublishRefused;
use bookstrack_protocol::publish::{
    CreateExternalJob, ExternalJobCreated, PublishRequest, PublishResponse, PublisherKeyRefreshed,
    RefreshPublisherKey,
};
use bookstrack_protocol::{ApiFailure, ApiSuccess};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(create, publish, refresh_key))]
pub struct Paths;

/// Create an external job
///
/// Answers the viewers' `jobId` and `token` and the publisher's own
/// `publisherKey`. The job starts at once and takes no running slot.
#[utoipa::path(
    post, path = "/api/jobs", tag = "publisher",
    request_body = CreateExternalJob,
    responses(
        (status = 202, description = "the job exists and sent `job_started`", body = ApiSuccess<ExternalJobCreated>),
        (status = 400, description = "`INVALID_REQUEST`: not this shape (an unknown key too), or `pipeline` `synthetic`", body = ApiFailure),
        (status = 401, description = "`UNAUTHORIZED`: the server requires job-creation credentials and none valid were sent", body = ApiFailure),
        (status = 408, description = "`REQUEST_TIMEOUT`: the body stopped arriving", body = ApiFailure),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: a body over its limit", body = ApiFailure),
        (status = 429, description = "`RATE_LIMITED`: the client holds `--max-external-jobs-per-client` jobs not ended; see `Retry-After`", body = ApiFailure),
        (status = 500, description = "`INTERNAL_ERROR`: storage failed; nothing was started", body = ApiFailure),
        (status = 503, description = "`INTERNAL_ERROR`: the server cannot take the job now; see `Retry-After`", body = ApiFailure),
    )
)]
fn create() {}

/// Publish events to an external job
///
/// Each event is taken in order, on its own; a retry with the same keys is
/// safe (a known key answers `duplicate` with its first seq).
#[utoipa::path(
    post, path = "/api/jobs/{job_id}/events", tag = "publisher",
    params(("job_id" = String, Path, description = "the external job's id")),
    security(("bearer" = [])),
    request_body = PublishRequest,
    responses(
        (status = 200, description = "no event was refused", body = ApiSuccess<PublishResponse>),
        (status = 400, description = "`INVALID_REQUEST`: not `{events: [...]}`, no event, a malformed key, an unknown field or type", body = ApiFailure),
        (status = 401, description = "`INVALID_TOKEN` (not the publisher key) or `TOKEN_EXPIRED`", body = ApiFailure),
        (status = 404, description = "`JOB_NOT_FOUND`", body = ApiFailure),
        (status = 409, description = "an event was refused (`STALE_PROGRESS`, `JOB_ENDED`, `INVALID_REQUEST`): the first refusal, and every outcome", body = PublishRefused),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: past the events per request, the bytes per event or per request", body = ApiFailure),
        (status = 429, description = "`RATE_LIMITED`: past the job's publish rate; nothing was appended; see `Retry-After`", body = ApiFailure),
        (status = 500, description = "`INTERNAL_ERROR`: the store failed; nothing was appended", body = ApiFailure),
        (status = 503, description = "`INTERNAL_ERROR`: the job is being picked up after a restart; `Retry-After: 1`", body = ApiFailure),
    )
)]
fn publish() {}

/// Rotate the publisher key
///
/// The body is optional: `newKey` is the key the publisher chose, so that
/// the same request sent again after a lost answer succeeds again.
#[utoipa::path(
    post, path = "/api/jobs/{job_id}/publisher-key/refresh", tag = "publisher",
    params(("job_id" = String, Path, description = "the external job's id")),
    security(("bearer" = [])),
    request_body(content = Option<RefreshPublisherKey>, content_type = "application/json"),
    responses(
        (status = 200, description = "the new key (or, for a repeated request, the same one again)", body = ApiSuccess<PublisherKeyRefreshed>),
        (status = 400, description = "`INVALID_REQUEST`: a body that is not `{newKey}` of 64 hex characters", body = ApiFailure),
        (status = 401, description = "`INVALID_TOKEN` (not the publisher key) or `TOKEN_EXPIRED`", body = ApiFailure),
        (status = 404, description = "`JOB_NOT_FOUND`", body = ApiFailure),
        (status = 409, description = "`CONFLICT`: the presented key was already replaced", body = ApiFailure),
        (status = 500, description = "`INTERNAL_ERROR`", body = ApiFailure),
    )
)]
fn refresh_key() {}
