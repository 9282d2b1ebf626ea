//! `POST /api/import/csv` (and its alias `/api/import/csv-gemini`).
//!
//! The upload is spooled to disk with its size counted as it streams, then
//! scanned off the async runtime; a file that cannot be imported is refused
//! with a reason before any job exists.

use super::upload::{self, bad_multipart, Spool, Upload};
use crate::api_error::ApiErr;
use crate::app::App;
use crate::clock;
use crate::http::admitted::Admitted;
use crate::pipelines::csv_import::{self, Format, ScanError};
use crate::pipelines::JobSpec;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::Json;
use bookstrack_protocol::{ApiSuccess, ErrorCode, JobStarted};
use std::sync::Arc;

type Answer = Result<(StatusCode, Json<ApiSuccess<JobStarted>>), ApiErr>;

pub async fn import_csv(State(app): State<Arc<App>>, admitted: Admitted, req: Request) -> Answer {
    let mut upload = Upload::open(req, app.config.max_part_header_bytes).await?;
    let answer = import(app, admitted, &mut upload.multipart).await;
    upload.answer(answer)
}

async fn import(
    app: Arc<App>,
    admitted: Admitted,
    multipart: &mut axum::extract::Multipart,
) -> Answer {
    let job_id = App::new_job_id();
    let spool = app.spool_path(&job_id);
    let guard = Spool::new(spool.clone());
    let mut got_file = false;
    let mut forced = None;
    while let Some(field) = multipart.next_field().await.map_err(bad_multipart)? {
        match field.name() {
            Some("file") if !got_file => {
                upload::spool(
                    field,
                    &spool,
                    app.config.max_upload_bytes,
                    "the upload",
                    |_| Ok(()),
                )
                .await?;
                got_file = true;
            }
            Some("format") => {
                let name =
                    upload::small_text(field, app.config.max_small_field_bytes, "format").await?;
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
        .start_job_held(
            job_id,
            JobSpec::CsvImport((&info).into()),
            Some(spool),
            Some(admitted.slot),
        )
        .await?;
    guard.keep();
    let data = started.into_data("CSV parsing started".into(), None);
    Ok((
        StatusCode::ACCEPTED,
        Json(ApiSuccess::new(data, clock::now_ms())),
    ))
}
