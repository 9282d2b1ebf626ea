//! `POST /api/token/refresh` (docs/PROTOCOL.md §4.7, §14;
//! `crates/server/src/http/token.rs`).

use bookstrack_protocol::{ApiFailure, RefreshRequest, RefreshResponse};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(refresh))]
pub struct Paths;

/// Exchange a token in its refresh window for a new one
///
/// The new token lives a full `--token-ttl-secs`; the old one stops
/// working at once. Success is a bare object of strings (the iOS client
/// decodes `[String: String]`).
#[utoipa::path(
    post, path = "/api/token/refresh", tag = "tokens",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "the new token", body = RefreshResponse),
        (status = 400, description = "`INVALID_REQUEST`: not `{jobId, oldToken}`; `REFRESH_TOO_EARLY`: before the refresh window", body = ApiFailure),
        (status = 401, description = "`INVALID_TOKEN`: not the job's token; `TOKEN_EXPIRED`: expired, can no longer be refreshed", body = ApiFailure),
        (status = 404, description = "`JOB_NOT_FOUND`", body = ApiFailure),
        (status = 409, description = "`CONFLICT`: already exchanged, or another refresh won", body = ApiFailure),
        (status = 500, description = "`INTERNAL_ERROR`", body = ApiFailure),
    )
)]
fn refresh() {}
