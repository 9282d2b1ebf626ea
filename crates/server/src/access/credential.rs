//! The operator's credentials: an API key that every job-creating request
//! must carry when one is configured (`--api-key-file` or
//! `BOOKSTRACK_API_KEY`), and a token for `/metrics`
//! (`--metrics-token-file`). Without them the server is open, as it was
//! before; README says to set the key before listening beyond loopback.

use super::{Refused, Slot};
use crate::api_error::ApiErr;
use crate::app::App;
use crate::auth::bearer;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use bookstrack_protocol::ErrorCode;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A credential the operator set. Its `Debug` never shows it, so a logged
/// configuration cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// `None` for a blank value: an empty key would let every request in.
    pub fn new(value: &str) -> Option<Secret> {
        let v = value.trim();
        (!v.is_empty()).then(|| Secret(v.to_string()))
    }

    /// Compares the SHA-256 of both in constant time: neither the bytes
    /// nor the length of the secret show in how long a refusal takes.
    pub fn matches(&self, presented: &str) -> bool {
        let a: [u8; 32] = Sha256::digest(self.0.as_bytes()).into();
        let b: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        a.ct_eq(&b).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

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

/// A request allowed to create jobs: it carried the API key, if one is
/// set. Synthetic jobs need only this; every other job also [`Admitted`].
pub struct Creator {
    pub client: Option<IpAddr>,
}

impl FromRequestParts<Arc<App>> for Creator {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiErr> {
        check(
            app.config.api_key.as_ref(),
            &parts.headers,
            "starting a job",
        )?;
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Creator { client })
    }
}

/// A [`Creator`] within the job quotas: it holds the job's [`Slot`] from
/// before its body is read, so an upload over quota is refused unread.
pub struct Admitted {
    pub client: Option<IpAddr>,
    pub slot: Slot,
}

impl FromRequestParts<Arc<App>> for Admitted {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiErr> {
        let Creator { client } = Creator::from_request_parts(parts, app).await?;
        let slot = app.admission.admit(client).map_err(Refused::into_api_err)?;
        Ok(Admitted { client, slot })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_matches_only_itself_and_never_shows() {
        let s = Secret::new(" k3y\n").unwrap();
        assert!(s.matches("k3y"));
        assert!(!s.matches("k3y "), "compared as presented");
        assert!(!s.matches("k3"));
        assert!(!s.matches(""));
        assert_eq!(format!("{s:?}"), "Secret(…)");
        assert!(Secret::new("  \n").is_none(), "a blank key is no key");
    }
}
