//! What every upload endpoint does with a multipart body: clear errors for a
//! malformed one, fields streamed to disk with their size counted, and the
//! spool removed unless a job took it over.

use super::part_headers;
use crate::api_error::ApiErr;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use bookstrack_protocol::ErrorCode;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// A multipart body whose part headers are bounded (`part_headers.rs`).
pub struct Upload {
    pub multipart: Multipart,
    over: Arc<AtomicBool>,
    limit: usize,
}

impl Upload {
    /// Reads `req` as multipart, each part's header block at most `limit` bytes.
    pub async fn open(req: Request, limit: usize) -> Result<Upload, ApiErr> {
        let over = Arc::new(AtomicBool::new(false));
        let (parts, body) = req.into_parts();
        let boundary = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(part_headers::boundary);
        // Without a boundary the extractor refuses the request unread.
        let body = match boundary {
            Some(b) => part_headers::guard(body, &b, limit, over.clone()),
            None => body,
        };
        let multipart = Multipart::from_request(Request::from_parts(parts, body), &())
            .await
            .map_err(rejected)?;
        Ok(Upload {
            multipart,
            over,
            limit,
        })
    }

    /// `answer`, unless a part header went past the limit: whatever error
    /// that caused (it may surface in the part before) becomes 413.
    pub fn answer<T>(&self, answer: Result<T, ApiErr>) -> Result<T, ApiErr> {
        if self.over.load(Ordering::Acquire) {
            return Err(ApiErr::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!(
                    "a multipart part header is longer than the limit of {} bytes",
                    self.limit
                ),
            ));
        }
        answer
    }
}

/// A small text field (`format`), read whole but refused with 413 past
/// `limit` bytes without reading further (`--max-small-field-bytes`).
pub async fn small_text(mut field: Field<'_>, limit: usize, what: &str) -> Result<String, ApiErr> {
    let mut text = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
        if text.len() + chunk.len() > limit {
            return Err(ApiErr::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!("the field `{what}` is longer than the limit of {limit} bytes"),
            ));
        }
        text.extend_from_slice(&chunk);
    }
    String::from_utf8(text).map_err(|_| {
        ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            format!("the field `{what}` is not UTF-8"),
        )
    })
}

/// The body is not multipart at all.
pub fn rejected(e: MultipartRejection) -> ApiErr {
    ApiErr::bad_request(
        ErrorCode::InvalidRequest,
        format!("expected a multipart/form-data upload: {}", e.body_text()),
    )
}

pub fn bad_multipart(e: MultipartError) -> ApiErr {
    ApiErr::bad_request(
        ErrorCode::InvalidRequest,
        format!("malformed multipart body: {}", e.body_text()),
    )
}

/// Streams `field` to `path` and returns its size. Past `limit` bytes it
/// answers 413; `check_head` sees the first chunk before anything is
/// written, to refuse a file by its bytes. `what` names it in errors.
pub async fn spool(
    mut field: Field<'_>,
    path: &Path,
    limit: u64,
    what: &str,
    check_head: impl FnOnce(&[u8]) -> Result<(), ApiErr>,
) -> Result<u64, ApiErr> {
    let io = |e: std::io::Error| ApiErr::internal(format!("could not spool {what}: {e}"));
    let mut file = crate::private_fs::create_options()
        .open(path)
        .await
        .map_err(io)?;
    let mut check_head = Some(check_head);
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
        if let Some(check) = check_head.take() {
            check(&chunk)?;
        }
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiErr::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!("{what} is larger than the limit of {limit} bytes"),
            ));
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(size)
}

/// Removes a spooled file or folder when dropped, unless a job took it over.
pub struct Spool(Option<PathBuf>);

impl Spool {
    pub fn new(path: PathBuf) -> Spool {
        Spool(Some(path))
    }

    pub fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(p)
            } else {
                std::fs::remove_file(p)
            };
        }
    }
}
