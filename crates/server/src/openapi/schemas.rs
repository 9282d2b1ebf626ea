//! Schemas of bodies the handlers build inline (`serde_json::json!`) or
//! read as multipart, so that the document names every field. Each mirrors
//! the handler named in its comment; schemathesis
//! (`crates/server/tests/it/contract.rs`) checks the live answers against them.

// Read only by the derive: these types document, they are never built.
#![allow(dead_code)]

use bookstrack_protocol::publish::PublishResponse;
use bookstrack_protocol::{ApiError, ErrorCode, JobStatus, Meta, Pipeline, RowError};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The error body of `GET /api/job-state/{jobId}` (not the §2 envelope:
/// the iOS client reads `error`), from `http/jobs.rs::raw_error`.
#[derive(ToSchema)]
pub struct JobStateError {
    /// `Invalid or expired token` or `Job not found`.
    pub error: String,
    /// `INVALID_TOKEN`, `TOKEN_EXPIRED` or `JOB_NOT_FOUND`.
    pub code: ErrorCode,
}

/// `data` of `GET /api/jobs/{jobId}/results` (`http/jobs.rs::results`).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct JobResults {
    pub job_id: String,
    pub pipeline: Pipeline,
    pub status: JobStatus,
    pub total_count: u64,
    pub success_count: u64,
    pub failure_count: u64,
    /// The job's output so far; each book's fields depend on the pipeline
    /// (README.md "Imported books", "Enrichment", "API").
    #[schema(value_type = Vec<Object>)]
    pub books: Vec<Map<String, Value>>,
    /// Imported rows merged into an earlier row of the same book
    /// (each with `duplicateOfRow`).
    #[schema(value_type = Vec<Object>)]
    pub duplicates: Vec<Map<String, Value>>,
    pub errors: Vec<RowError>,
}

/// The 409 of a publish request with a refused event
/// (`http/publish.rs::respond`): the first refusal, and every outcome.
#[derive(ToSchema)]
pub struct PublishRefused {
    /// Always `false`.
    pub success: bool,
    pub error: ApiError,
    pub data: PublishResponse,
    pub meta: Meta,
}

/// The CSV formats `format` names (`pipelines/csv_import/format.rs`), case-insensitive.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum CsvFormat {
    Goodreads,
    Storygraph,
    Librarything,
    Openlibrary,
    Generic,
}

/// `POST /api/import/csv` (`http/import.rs`): other fields are ignored.
#[derive(ToSchema)]
pub struct CsvUpload {
    /// The export; only the first `file` field is read.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// Otherwise detected from the header row.
    pub format: Option<CsvFormat>,
}

/// `POST /api/scan-bookshelf` (`http/scan.rs`): one photo.
#[derive(ToSchema)]
pub struct PhotoUpload {
    /// JPEG, PNG or WebP, recognised by its bytes.
    #[schema(value_type = String, format = Binary)]
    pub image: Vec<u8>,
}

/// `POST /api/scan-bookshelf/batch` (`http/scan.rs`): 1 to `--max-photos`.
#[derive(ToSchema)]
pub struct PhotosUpload {
    #[schema(value_type = Vec<String>, format = Binary, min_items = 1)]
    pub photos: Vec<Vec<u8>>,
}
