//! `POST /api/import/csv` (and its alias `/api/import/csv-gemini`).
//!
//! The upload is spooled to disk with its size counted as it streams, then
//! scanned off the async runtime; a file that cannot be imported is refused
//! with a reason before any job exists.

use super::error::ApiErr;
use crate::app::App;
use crate::clock;
use crate::pipelines::csv_import::{self, CsvImport, Format, ScanError};
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use bookstrack_protocol::{ApiSuccess, ErrorCode, JobStarted, Pipeline};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

pub async fn import_csv(
    State(app): State<Arc<App>>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<ApiSuccess<JobStarted>>), ApiErr> {
    let mut multipart = multipart.map_err(|e| {
        ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            format!("expected a multipart/form-data upload: {}", e.body_text()),
        )
    })?;
    let job_id = App::new_job_id();
    let spool = app.spool_path(&job_id);
    let guard = SpoolGuard(Some(spool.clone()));
    let mut got_file = false;
    let mut forced = None;
    while let Some(field) = multipart.next_field().await.map_err(bad_multipart)? {
        match field.name() {
            Some("file") if !got_file => {
                spool_field(field, &spool, app.config.max_upload_bytes).await?;
                got_file = true;
            }
            Some("format") => {
                let name = field.text().await.map_err(bad_multipart)?;
                forced = Some(Format::parse(&name).ok_or_else(|| {
                    ApiErr::bad_request(
                        ErrorCode::InvalidRequest,
                        format!(
                            "unknown format {name:?}: use goodreads, storygraph, librarything or generic"
                        ),
                    )
                })?);
            }
            _ => {}
        }
    }
    if !got_file {
        return Err(ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            "the multipart field `file` is required",
        ));
    }
    let max_rows = app.config.max_rows;
    let path = spool.clone();
    let info = tokio::task::spawn_blocking(move || csv_import::scan(&path, max_rows, forced))
        .await
        .map_err(|e| ApiErr::internal(e.to_string()))?
        .map_err(|e| match e {
            ScanError::Io(m) => ApiErr::internal(m),
            other => ApiErr::bad_request(ErrorCode::CsvParseError, other.to_string()),
        })?;
    let started = app
        .start_job(
            job_id,
            Pipeline::CsvImport,
            CsvImport::params(&info),
            Some(spool),
        )
        .await?;
    guard.keep();
    let data = started.into_data("CSV parsing started".into(), None);
    Ok((
        StatusCode::ACCEPTED,
        Json(ApiSuccess::new(data, clock::now_ms())),
    ))
}

fn bad_multipart(e: axum::extract::multipart::MultipartError) -> ApiErr {
    ApiErr::bad_request(
        ErrorCode::InvalidRequest,
        format!("malformed multipart body: {}", e.body_text()),
    )
}

async fn spool_field(
    mut field: axum::extract::multipart::Field<'_>,
    path: &Path,
    limit: u64,
) -> Result<(), ApiErr> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| ApiErr::internal(format!("could not spool the upload: {e}")))?;
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiErr::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!("the upload is larger than the limit of {limit} bytes"),
            ));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiErr::internal(format!("could not spool the upload: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| ApiErr::internal(format!("could not spool the upload: {e}")))?;
    Ok(())
}

/// Removes a spooled upload unless a job took it over.
struct SpoolGuard(Option<PathBuf>);

impl SpoolGuard {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for SpoolGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}
