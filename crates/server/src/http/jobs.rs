//! `GET /api/job-state/{jobId}` and `GET /api/jobs/{jobId}/results`.

use crate::api_error::{auth_err, ApiErr};
use crate::app::App;
use crate::auth::{authorize, bearer, AuthError, Denied};
use crate::clock;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bookstrack_protocol::ApiSuccess;
use serde_json::json;
use std::sync::Arc;

/// The iOS client reads this endpoint's errors as `{"error": "…"}` (docs/PROTOCOL.md §4.5).
fn raw_error(status: StatusCode, message: &str, code: &str) -> Response {
    (status, Json(json!({"error": message, "code": code}))).into_response()
}

pub async fn job_state(
    State(app): State<Arc<App>>,
    Path(job_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match authorize(
        app.jobs.store.as_ref(),
        &app.jobs.metrics,
        &job_id,
        bearer(&headers),
    )
    .await
    {
        Ok(()) => {}
        Err(AuthError::Denied(Denied::NotFound)) => {
            return raw_error(StatusCode::NOT_FOUND, "Job not found", "JOB_NOT_FOUND")
        }
        Err(AuthError::Denied(Denied::Expired)) => {
            return raw_error(
                StatusCode::UNAUTHORIZED,
                "Invalid or expired token",
                "TOKEN_EXPIRED",
            )
        }
        Err(AuthError::Denied(Denied::Invalid)) => {
            return raw_error(
                StatusCode::UNAUTHORIZED,
                "Invalid or expired token",
                "INVALID_TOKEN",
            )
        }
        Err(AuthError::Store(e)) => return ApiErr::from(e).into_response(),
    }
    match app.job_state(&job_id).await {
        Ok(Some(state)) => Json(state).into_response(),
        Ok(None) => raw_error(StatusCode::NOT_FOUND, "Job not found", "JOB_NOT_FOUND"),
        Err(e) => ApiErr::from(e).into_response(),
    }
}

pub async fn results(
    State(app): State<Arc<App>>,
    Path(job_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiErr> {
    authorize(
        app.jobs.store.as_ref(),
        &app.jobs.metrics,
        &job_id,
        bearer(&headers),
    )
    .await
    .map_err(auth_err)?;
    let state = app
        .jobs
        .store
        .job_state(&job_id)
        .await?
        .ok_or_else(ApiErr::not_found)?;
    let output = app
        .jobs
        .store
        .output(&job_id)
        .await?
        .ok_or_else(ApiErr::not_found)?;
    // Rows merged into an earlier one are stored beside the books they match.
    let (duplicates, books): (Vec<_>, Vec<_>) = output
        .items
        .into_iter()
        .partition(|i| i.get("duplicateOfRow").is_some());
    let data = json!({
        "jobId": job_id,
        "pipeline": state.pipeline,
        "status": state.status,
        "totalCount": state.total_count,
        "successCount": state.success_count,
        "failureCount": state.failure_count,
        "books": books,
        "duplicates": duplicates,
        "errors": output.errors,
    });
    Ok(Json(ApiSuccess::new(data, clock::now_ms())).into_response())
}
