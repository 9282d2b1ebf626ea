//! What every upload endpoint does with a multipart body: clear errors for a
//! malformed one, fields streamed to disk with their size counted, and the
//! spool removed unless a job took it over.

use crate::api_error::ApiErr;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::http::StatusCode;
use bookstrack_protocol::ErrorCode;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

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
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
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
