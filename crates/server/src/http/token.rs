//! `POST /api/token/refresh`: a new token for the last `refresh_window` of
//! the old one's life. Of concurrent refreshes exactly one wins (the store
//! swaps the hash only if it is still the old one); the rest get 409.

use crate::api_error::ApiErr;
use crate::app::App;
use crate::clock;
use crate::metrics::Metrics;
use crate::token;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use bookstrack_protocol::{ErrorCode, RefreshRequest, RefreshResponse};
use std::sync::Arc;

pub async fn refresh(
    State(app): State<Arc<App>>,
    body: Result<Json<RefreshRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<RefreshResponse>, ApiErr> {
    let Json(req) = body.map_err(|e| {
        ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            format!("expected {{\"jobId\", \"oldToken\"}}: {}", e.body_text()),
        )
    })?;
    let record = app
        .jobs
        .store
        .token(&req.job_id)
        .await?
        .ok_or_else(ApiErr::not_found)?;
    let now = clock::now_ms();
    let deny = |e: ApiErr| {
        Metrics::inc(&app.jobs.metrics.auth_failures);
        e
    };
    if !token::matches(&req.old_token, &record.hash) {
        if record
            .previous
            .is_some_and(|prev| token::matches(&req.old_token, &prev))
        {
            return Err(ApiErr::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                "this token has already been refreshed",
            ));
        }
        return Err(deny(ApiErr::unauthorized()));
    }
    if now >= record.expires_at {
        return Err(deny(ApiErr::expired()));
    }
    let window = app.config.token_refresh_window.as_millis() as i64;
    if now < record.expires_at - window {
        return Err(ApiErr::bad_request(
            ErrorCode::RefreshTooEarly,
            format!(
                "a token can be refreshed only in the last {} s of its life",
                window / 1000
            ),
        ));
    }
    let (new_token, new_hash) = token::generate();
    let expires_at = now + app.config.token_ttl.as_millis() as i64;
    if !app
        .jobs
        .store
        .replace_token(&req.job_id, &record.hash, &new_hash, expires_at)
        .await?
    {
        return Err(ApiErr::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            "another refresh of this token won",
        ));
    }
    app.jobs.metrics.token_refreshed(false);
    Ok(Json(RefreshResponse {
        job_id: req.job_id,
        token: new_token,
        expires_at: expires_at.to_string(),
    }))
}
