//! `GET /api/job-state/{jobId}` (the results are `results.rs`).

use crate::api_error::ApiErr;
use crate::app::App;
use crate::auth::{authorize, bearer, AuthError, Denied};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
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
