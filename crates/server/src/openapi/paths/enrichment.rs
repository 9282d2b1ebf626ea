//! `POST /api/enrichment/start` (docs/PROTOCOL.md §4.3;
//! `crates/server/src/http/enrichment.rs`).

use crate::http::enrichment::StartEnrichment;
use bookstrack_protocol::{ApiFailure, ApiSuccess, JobStarted};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(start))]
pub struct Paths;

/// Enrich books
///
/// Inline `books`, `workIds` of books from earlier imports, or both; at
/// least one book in all. No other keys.
#[utoipa::path(
    post, path = "/api/enrichment/start", tag = "jobs",
    request_body = StartEnrichment,
    params(("X-Bookstrack-Job-Tokens" = Option<String>, Header, description = "comma-separated tokens of the jobs whose works `workIds` may name (at most `--max-presented-tokens`)")),
    responses(
        (status = 202, description = "`Enrichment started for N books`", body = ApiSuccess<JobStarted>),
        (status = 400, description = "`INVALID_REQUEST`: not this shape (an unknown key too), `jobId` not a UUID, a book with neither title nor ISBN, no books", body = ApiFailure),
        (status = 401, description = "`UNAUTHORIZED`: the server requires job-creation credentials and none valid were sent", body = ApiFailure),
        (status = 404, description = "`INVALID_REQUEST`: `workIds` the server does not hold, or not of the jobs whose tokens were presented", body = ApiFailure),
        (status = 408, description = "`REQUEST_TIMEOUT`: the body stopped arriving", body = ApiFailure),
        (status = 409, description = "`CONFLICT`: the `jobId` is already used", body = ApiFailure),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: more books than `--max-enrich-books`", body = ApiFailure),
        (status = 429, description = "`RATE_LIMITED`: over the jobs this client or the server may hold; see `Retry-After`", body = ApiFailure),
        (status = 500, description = "`INTERNAL_ERROR`: storage failed; nothing was started", body = ApiFailure),
        (status = 503, description = "`INTERNAL_ERROR`: the server cannot take the job now; see `Retry-After`", body = ApiFailure),
    )
)]
fn start() {}
