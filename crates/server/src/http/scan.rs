//! `POST /api/scan-bookshelf` (field `image`) and
//! `POST /api/scan-bookshelf/batch` (fields `photos`): each photo is
//! recognised by its bytes, size-checked while it streams and decoded once
//! before the job starts.

use super::upload::{self, bad_multipart, rejected, Spool};
use crate::access::{presented_jobs, Admitted};
use crate::api_error::ApiErr;
use crate::app::App;
use crate::clock;
use crate::pipelines::ai_scan::image::{self, ImageKind};
use crate::pipelines::ai_scan::AiScanSpec;
use crate::pipelines::JobSpec;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use bookstrack_protocol::{ApiSuccess, ErrorCode, JobStarted};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Answer = Result<(StatusCode, Json<ApiSuccess<JobStarted>>), ApiErr>;

pub async fn single(
    state: State<Arc<App>>,
    admitted: Admitted,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Answer {
    let ask = Ask {
        admitted,
        headers,
        field_name: "image",
        is_batch: false,
    };
    scan(state, ask, multipart).await
}

pub async fn batch(
    state: State<Arc<App>>,
    admitted: Admitted,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Answer {
    let ask = Ask {
        admitted,
        headers,
        field_name: "photos",
        is_batch: true,
    };
    scan(state, ask, multipart).await
}

/// What a scan request is, apart from its photos.
struct Ask {
    admitted: Admitted,
    /// Its `X-Bookstrack-Job-Tokens`: the imports it is matched against.
    headers: HeaderMap,
    field_name: &'static str,
    is_batch: bool,
}

async fn save_photo(
    field: axum::extract::multipart::Field<'_>,
    dir: &Path,
    index: usize,
    limit: u64,
) -> Result<(String, ImageKind), ApiErr> {
    let tmp = dir.join(format!("{index}.upload"));
    let what = format!("photo {}", index + 1);
    let mut kind = None;
    upload::spool(field, &tmp, limit, &what, |head| {
        kind = image::sniff(head);
        kind.map(|_| ()).ok_or_else(|| {
            ApiErr::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                format!("{what} is not a JPEG, PNG or WebP image"),
            )
        })
    })
    .await?;
    let Some(kind) = kind else {
        return Err(ApiErr::bad_request(
            ErrorCode::AiScanError,
            format!("{what} is empty"),
        ));
    };
    let name = format!("{}.{}", index + 1, kind.extension());
    tokio::fs::rename(&tmp, dir.join(&name))
        .await
        .map_err(|e| ApiErr::internal(e.to_string()))?;
    Ok((name, kind))
}

async fn scan(
    State(app): State<Arc<App>>,
    ask: Ask,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Answer {
    let (field_name, is_batch) = (ask.field_name, ask.is_batch);
    let jobs = presented_jobs(
        app.jobs.store.as_ref(),
        &ask.headers,
        app.config.max_presented_tokens,
    )
    .await?;
    let mut multipart = multipart.map_err(rejected)?;
    let job_id = App::new_job_id();
    let dir = app.spool_path(&job_id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiErr::internal(e.to_string()))?;
    let guard = Spool::new(dir.clone());
    let max = if is_batch {
        app.config.scan.max_photos
    } else {
        1
    };
    let mut photos: Vec<(String, String)> = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(bad_multipart)? {
        if field.name() != Some(field_name) {
            continue;
        }
        if photos.len() >= max {
            return Err(ApiErr::bad_request(
                ErrorCode::InvalidRequest,
                format!("more than {max} photo(s) in one request"),
            ));
        }
        let (name, kind) =
            save_photo(field, &dir, photos.len(), app.config.scan.max_photo_bytes).await?;
        photos.push((name, kind.mime().to_string()));
    }
    if photos.is_empty() {
        return Err(ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            format!("the multipart field `{field_name}` is required"),
        ));
    }
    let check: Vec<PathBuf> = photos.iter().map(|(n, _)| dir.join(n)).collect();
    tokio::task::spawn_blocking(move || {
        for (i, p) in check.iter().enumerate() {
            image::validate(p).map_err(|e| format!("photo {}: {e}", i + 1))?;
        }
        Ok::<(), String>(())
    })
    .await
    .map_err(|e| ApiErr::internal(e.to_string()))?
    .map_err(|e| ApiErr::bad_request(ErrorCode::AiScanError, e))?;
    let total = photos.len() as u64;
    let started = app
        .start_job_held(
            job_id,
            JobSpec::AiScan(AiScanSpec { photos, jobs }),
            Some(dir),
            Some(ask.admitted.slot),
        )
        .await?;
    guard.keep();
    let (message, total_photos) = if is_batch {
        ("Batch scan started", Some(total))
    } else {
        ("Scan started", None)
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(ApiSuccess::new(
            started.into_data(message.into(), total_photos),
            clock::now_ms(),
        )),
    ))
}
