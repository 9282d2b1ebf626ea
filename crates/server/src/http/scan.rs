//! `POST /api/scan-bookshelf` (field `image`) and
//! `POST /api/scan-bookshelf/batch` (fields `photos`): each photo is
//! recognised by its bytes, size-checked while it streams and decoded once
//! before the job starts.

use super::upload::{self, bad_multipart, Spool, Upload};
use crate::access::presented_jobs;
use crate::api_error::ApiErr;
use crate::app::App;
use crate::clock;
use crate::http::admitted::Admitted;
use crate::pipelines::ai_scan::image::{self, ImageKind, PhotoError};
use crate::pipelines::ai_scan::AiScanSpec;
use crate::pipelines::JobSpec;
use axum::extract::{Multipart, Request, State};
use axum::http::StatusCode;
use axum::Json;
use bookstrack_protocol::{ApiSuccess, ErrorCode, JobStarted};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Answer = Result<(StatusCode, Json<ApiSuccess<JobStarted>>), ApiErr>;

pub async fn single(State(app): State<Arc<App>>, admitted: Admitted, req: Request) -> Answer {
    guarded(app, admitted, req, "image", false).await
}

pub async fn batch(State(app): State<Arc<App>>, admitted: Admitted, req: Request) -> Answer {
    guarded(app, admitted, req, "photos", true).await
}

/// What a scan request is, apart from its photos.
struct Ask {
    admitted: Admitted,
    /// The imports it is matched against, from its `X-Bookstrack-Job-Tokens`.
    jobs: Vec<String>,
    field_name: &'static str,
    is_batch: bool,
}

async fn guarded(
    app: Arc<App>,
    admitted: Admitted,
    req: Request,
    field_name: &'static str,
    is_batch: bool,
) -> Answer {
    let jobs = presented_jobs(
        app.jobs.store.as_ref(),
        req.headers(),
        app.config.max_presented_tokens,
    )
    .await?;
    let ask = Ask {
        admitted,
        jobs,
        field_name,
        is_batch,
    };
    let mut upload = Upload::open(req, app.config.max_part_header_bytes).await?;
    let answer = scan(app, ask, &mut upload.multipart).await;
    upload.answer(answer)
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

async fn scan(app: Arc<App>, ask: Ask, multipart: &mut Multipart) -> Answer {
    let (field_name, is_batch, jobs) = (ask.field_name, ask.is_batch, ask.jobs);
    let job_id = App::new_job_id();
    let dir = app.spool_path(&job_id);
    let made = dir.clone();
    tokio::task::spawn_blocking(move || crate::private_fs::private_dir(&made))
        .await
        .map_err(|e| ApiErr::internal(e.to_string()))?
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
    let (max_pixels, decodes) = (
        app.config.scan.max_photo_pixels,
        app.pipelines.scan_gates.decodes.clone(),
    );
    tokio::task::spawn_blocking(move || {
        for (i, p) in check.iter().enumerate() {
            image::validate(p, max_pixels, &decodes).map_err(|e| refused_photo(i + 1, e))?;
        }
        Ok::<(), ApiErr>(())
    })
    .await
    .map_err(|e| ApiErr::internal(e.to_string()))??;
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

/// 413 for a photo with too many pixels (told from its header, never
/// decoded); 400 for one that does not decode.
fn refused_photo(num: usize, e: PhotoError) -> ApiErr {
    match e {
        PhotoError::TooManyPixels { .. } => ApiErr::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("photo {num}: {e}"),
        ),
        PhotoError::Undecodable(_) => {
            ApiErr::bad_request(ErrorCode::AiScanError, format!("photo {num}: {e}"))
        }
    }
}
