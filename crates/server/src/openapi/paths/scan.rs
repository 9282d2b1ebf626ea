//! `POST /api/scan-bookshelf` and `/api/scan-bookshelf/batch`
//! (docs/PROTOCOL.md §4.4; `crates/server/src/http/scan.rs`).

use crate::openapi::schemas::{PhotoUpload, PhotosUpload};
use bookstrack_protocol::{ApiFailure, ApiSuccess, JobStarted};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(single, batch))]
pub struct Paths;

/// Scan a photo of a bookshelf
///
/// The photo is recognised by its bytes, size-checked as it streams and
/// decoded once before the job starts. Fields with other names are ignored.
#[utoipa::path(
    post, path = "/api/scan-bookshelf", tag = "jobs",
    request_body(content = PhotoUpload, content_type = "multipart/form-data"),
    params(("X-Bookstrack-Job-Tokens" = Option<String>, Header, description = "comma-separated tokens of the imports the photos are matched against, besides the catalog (at most `--max-presented-tokens`)")),
    responses(
        (status = 202, description = "`Scan started`", body = ApiSuccess<JobStarted>),
        (status = 400, description = "`INVALID_REQUEST`: not multipart, malformed, no `image`, more than one; `AI_SCAN_ERROR`: an empty photo or one that does not decode", body = ApiFailure),
        (status = 401, description = "`UNAUTHORIZED`: the server requires job-creation credentials and none valid were sent", body = ApiFailure),
        (status = 408, description = "`INVALID_REQUEST`: the upload stopped arriving", body = ApiFailure),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: a photo over `--max-photo-bytes` (or over the pixel limit), a part header over its limit", body = ApiFailure),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: not JPEG, PNG or WebP", body = ApiFailure),
        (status = 429, description = "`RATE_LIMITED`: over the jobs this client or the server may hold; see `Retry-After`", body = ApiFailure),
        (status = 500, description = "`INTERNAL_ERROR`: storage failed; nothing was started", body = ApiFailure),
        (status = 503, description = "`INTERNAL_ERROR`: the server cannot take the job now; see `Retry-After`", body = ApiFailure),
    )
)]
fn single() {}

/// Scan up to `--max-photos` photos in one job
#[utoipa::path(
    post, path = "/api/scan-bookshelf/batch", tag = "jobs",
    request_body(content = PhotosUpload, content_type = "multipart/form-data"),
    params(("X-Bookstrack-Job-Tokens" = Option<String>, Header, description = "comma-separated tokens of the imports the photos are matched against, besides the catalog (at most `--max-presented-tokens`)")),
    responses(
        (status = 202, description = "`Batch scan started`, with `totalPhotos`", body = ApiSuccess<JobStarted>),
        (status = 400, description = "`INVALID_REQUEST`: not multipart, malformed, no `photos`, more than `--max-photos`; `AI_SCAN_ERROR`: a photo that is empty or does not decode (`photo 2: …`)", body = ApiFailure),
        (status = 401, description = "`UNAUTHORIZED`: the server requires job-creation credentials and none valid were sent", body = ApiFailure),
        (status = 408, description = "`INVALID_REQUEST`: the upload stopped arriving", body = ApiFailure),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: a photo over `--max-photo-bytes` (or over the pixel limit)", body = ApiFailure),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: a photo that is not JPEG, PNG or WebP", body = ApiFailure),
        (status = 429, description = "`RATE_LIMITED`: over the jobs this client or the server may hold; see `Retry-After`", body = ApiFailure),
        (status = 500, description = "`INTERNAL_ERROR`: storage failed; nothing was started", body = ApiFailure),
        (status = 503, description = "`INTERNAL_ERROR`: the server cannot take the job now; see `Retry-After`", body = ApiFailure),
    )
)]
fn batch() {}
