//! What every request the server sends elsewhere (enrichment providers,
//! Gemini) shares: redirects followed on the same origin only, and response
//! bodies read by chunks up to a cap (`--max-upstream-bytes`).
//!
//! Before, a redirect to any host was followed, the Gemini key with it, and
//! a body was read whole however long it was (issue 17).

use reqwest::redirect::{Attempt, Policy};

/// Redirects followed in a row before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Follows a redirect only to the scheme, host and port the request was
/// sent to, so a key in a header never reaches another host; any other
/// redirect is answered as it is (a 3xx the caller refuses).
pub fn same_origin_redirects() -> Policy {
    Policy::custom(|attempt: Attempt<'_>| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        let same = first.scheme() == attempt.url().scheme()
            && first.host_str() == attempt.url().host_str()
            && first.port_or_known_default() == attempt.url().port_or_known_default();
        if same && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the response is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("the response could not be read: {0}")]
    Read(#[from] reqwest::Error),
}

/// The body of `resp`, refused past `limit` bytes without reading further
/// (a `Content-Length` over it is refused before any byte is read).
pub async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
