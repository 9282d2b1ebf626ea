//! API errors and their HTTP rendering, shared by the HTTP endpoints and the
//! WebSocket upgrade (which answers a refused upgrade with the same JSON).

use crate::auth::{AuthError, Denied};
use crate::clock;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bookstrack_protocol::{ApiError, ApiFailure, ErrorCode, Meta};

/// An error answer in the envelope of docs/PROTOCOL.md §2.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiErr {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Sent as `Retry-After` (whole seconds, at least 1).
    pub retry_after: Option<std::time::Duration>,
}

impl ApiErr {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiErr {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            message,
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken,
            "Unauthorized",
        )
    }

    pub fn expired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::TokenExpired,
            "Token expired",
        )
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::JobNotFound,
            "Job not found",
        )
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        let body = ApiFailure {
            success: false,
            error: ApiError {
                code: self.code,
                message: self.message,
            },
            meta: Meta {
                timestamp: clock::now_ms(),
            },
        };
        let mut res = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        res
    }
}

impl From<StoreError> for ApiErr {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage error");
        ApiErr::internal("storage error")
    }
}

fn denied(d: Denied) -> ApiErr {
    match d {
        Denied::NotFound => ApiErr::not_found(),
        Denied::Invalid => ApiErr::unauthorized(),
        Denied::Expired => ApiErr::expired(),
    }
}

pub fn auth_err(e: AuthError) -> ApiErr {
    match e {
        AuthError::Denied(d) => denied(d),
        AuthError::Store(e) => e.into(),
    }
}
