//! The operator's credentials: an API key that every job-creating request
//! must carry when one is configured (`--api-key-file` or
//! `BOOKSTRACK_API_KEY`), and a token for `/metrics`
//! (`--metrics-token-file`). Without them the server is open, as it was
//! before; README says to set the key before listening beyond loopback.
//! The extractors that apply them to a request are `http/admitted.rs`'s.

use crate::api_error::ApiErr;
use crate::auth::bearer;
pub use crate::secret::Secret;
use axum::http::{HeaderMap, StatusCode};
use bookstrack_protocol::ErrorCode;

/// The refusal of a request without the credential (401 `UNAUTHORIZED`).
pub fn unauthorized(what: &str) -> ApiErr {
    ApiErr::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthorized,
        format!("{what} needs `Authorization: Bearer <key>` with the server's key"),
    )
}

/// Passes when no secret is configured, or the request's bearer matches it.
pub fn check(secret: Option<&Secret>, headers: &HeaderMap, what: &str) -> Result<(), ApiErr> {
    match secret {
        None => Ok(()),
        Some(s) if bearer(headers).is_some_and(|p| s.matches(p)) => Ok(()),
        Some(_) => Err(unauthorized(what)),
    }
}
