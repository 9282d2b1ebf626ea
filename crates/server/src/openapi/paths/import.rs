//! `POST /api/import/csv` and its alias (docs/PROTOCOL.md §4.2;
//! `crates/server/src/http/import.rs`).

use crate::openapi::schemas::CsvUpload;
use bookstrack_protocol::{ApiFailure, ApiSuccess, JobStarted};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(import_csv, import_csv_gemini))]
pub struct Paths;

/// Import a library export
///
/// The file is spooled and pre-scanned before any job exists: a file that
/// cannot be imported is refused with the reason and line. Per-row problems
/// never fail the job (they are listed by the results endpoint).
#[utoipa::path(
    post, path = "/api/import/csv", tag = "jobs",
    request_body(content = CsvUpload, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "the job started (`CSV parsing started`)", body = ApiSuccess<JobStarted>),
        (status = 400, description = "`INVALID_REQUEST`: not multipart, malformed, no `file`, unknown `format`; `CSV_PARSE_ERROR`: empty, binary, unknown header, unclosed quote, more rows than `--max-rows`", body = ApiFailure),
        (status = 401, description = "`UNAUTHORIZED`: the server requires job-creation credentials and none valid were sent", body = ApiFailure),
        (status = 408, description = "`INVALID_REQUEST`: the upload stopped arriving", body = ApiFailure),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: more bytes than `--max-upload-bytes`, or a part header or small field over its limit", body = ApiFailure),
        (status = 429, description = "`RATE_LIMITED`: over the jobs this client or the server may hold; see `Retry-After`", body = ApiFailure),
        (status = 500, description = "`INTERNAL_ERROR`: storage failed; nothing was started", body = ApiFailure),
        (status = 503, description = "`INTERNAL_ERROR`: the server cannot take the job now; see `Retry-After`", body = ApiFailure),
    )
)]
fn import_csv() {}

/// Import a library export (alias of `/api/import/csv`)
#[utoipa::path(
    post, path = "/api/import/csv-gemini", tag = "jobs",
    request_body(content = CsvUpload, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "the job started", body = ApiSuccess<JobStarted>),
        (status = 400, description = "as `/api/import/csv`", body = ApiFailure),
        (status = 401, description = "as `/api/import/csv`", body = ApiFailure),
        (status = 408, description = "as `/api/import/csv`", body = ApiFailure),
        (status = 413, description = "as `/api/import/csv`", body = ApiFailure),
        (status = 429, description = "as `/api/import/csv`", body = ApiFailure),
        (status = 500, description = "as `/api/import/csv`", body = ApiFailure),
        (status = 503, description = "as `/api/import/csv`", body = ApiFailure),
    )
)]
fn import_csv_gemini() {}
