//! Token checks shared by the HTTP endpoints and the WebSocket upgrade: the
//! job store's token record against the presented one, in constant time
//! (`token.rs`).

use crate::clock;
use crate::metrics::Metrics;
use crate::store::{JobStore, StoreError, TokenRecord};
use crate::token::{self, TokenCheck};
use axum::http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    NotFound,
    Invalid,
    Expired,
}

pub enum AuthError {
    Denied(Denied),
    Store(StoreError),
}

/// Checks `presented` against the job's current token. Every refusal is
/// counted; the token itself is never logged.
pub async fn authorize(
    store: &dyn JobStore,
    metrics: &Metrics,
    job_id: &str,
    presented: Option<&str>,
) -> Result<(), AuthError> {
    authorize_until(store, metrics, job_id, presented)
        .await
        .map(|_| ())
}

/// `authorize`, answering when the token expires (ms): a socket opened
/// with it is closed then (`hub::conn`, docs/PROTOCOL.md §14).
pub async fn authorize_until(
    store: &dyn JobStore,
    metrics: &Metrics,
    job_id: &str,
    presented: Option<&str>,
) -> Result<i64, AuthError> {
    let record = store.token(job_id).await.map_err(AuthError::Store)?;
    check(metrics, record.as_ref(), presented).map_err(AuthError::Denied)?;
    Ok(record.map_or(0, |r| r.expires_at))
}

/// Checks `presented` against a credential's record (a job's token, or an
/// external job's publisher key, `http/publish.rs`); counts refusals.
pub fn check(
    metrics: &Metrics,
    record: Option<&TokenRecord>,
    presented: Option<&str>,
) -> Result<(), Denied> {
    let verdict = match record {
        None => Err(Denied::NotFound),
        Some(r) => match token::check(presented, &r.hash, r.expires_at, clock::now_ms()) {
            TokenCheck::Valid => Ok(()),
            TokenCheck::Invalid => Err(Denied::Invalid),
            TokenCheck::Expired => Err(Denied::Expired),
        },
    };
    if matches!(verdict, Err(Denied::Invalid | Denied::Expired)) {
        Metrics::inc(&metrics.auth_failures);
    }
    verdict
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}
