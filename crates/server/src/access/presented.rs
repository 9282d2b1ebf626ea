//! The job tokens a request presents to reach earlier jobs' data
//! (docs/PROTOCOL.md §4.3): `X-Bookstrack-Job-Tokens: tok1, tok2`. Enrichment
//! by `workIds` resolves only works of these jobs, and a shelf scan matches
//! only against their books and the operator's catalog. A token that is
//! unknown, replaced or expired names no job; the request is answered as if
//! it had not been presented, so the answer tells nothing of other jobs.

use crate::api_error::ApiErr;
use crate::clock;
use crate::store::JobStore;
use crate::token;
use axum::http::HeaderMap;
use bookstrack_protocol::ErrorCode;

pub const JOB_TOKENS_HEADER: &str = "x-bookstrack-job-tokens";

/// The ids of the jobs whose current, unexpired token the request presents,
/// at most `max` tokens (400 `INVALID_REQUEST` past it).
pub async fn presented_jobs(
    store: &dyn JobStore,
    headers: &HeaderMap,
    max: usize,
) -> Result<Vec<String>, ApiErr> {
    let tokens = parse(headers, max)?;
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = tokens.iter().map(|t| token::hash(t)).collect();
    let now = clock::now_ms();
    let mut jobs: Vec<String> = store
        .jobs_by_token(hashes)
        .await?
        .into_iter()
        .filter(|(_, expires_at)| now < *expires_at)
        .map(|(job, _)| job)
        .collect();
    jobs.sort_unstable();
    jobs.dedup();
    Ok(jobs)
}

/// The tokens of every `X-Bookstrack-Job-Tokens` header, comma-separated.
fn parse(headers: &HeaderMap, max: usize) -> Result<Vec<String>, ApiErr> {
    let mut tokens = Vec::new();
    for value in headers.get_all(JOB_TOKENS_HEADER) {
        let text = value.to_str().map_err(|_| {
            ApiErr::bad_request(
                ErrorCode::InvalidRequest,
                "X-Bookstrack-Job-Tokens is not ASCII",
            )
        })?;
        for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if tokens.len() == max {
                return Err(ApiErr::bad_request(
                    ErrorCode::InvalidRequest,
                    format!("at most {max} job tokens may be presented in X-Bookstrack-Job-Tokens"),
                ));
            }
            tokens.push(t.to_string());
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(JOB_TOKENS_HEADER, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn tokens_are_read_from_every_header_up_to_the_limit() {
        let t = parse(&headers(&["a, b", " ,c"]), 3).unwrap();
        assert_eq!(t, ["a", "b", "c"]);
        let e = parse(&headers(&["a, b", "c,d"]), 3).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.message.contains("at most 3"), "{}", e.message);
        assert!(parse(&HeaderMap::new(), 3).unwrap().is_empty());
    }
}
