//! `--body-idle-timeout-secs`: a request body that stops arriving is ended.
//!
//! Without it an upload whose client went quiet held its connection, its
//! spool file and its handler forever, and kept a graceful shutdown from
//! finishing (issue 17). Every request's body passes through [`guard`]: a
//! wait longer than the timeout for its next chunk ends the body with an
//! error, whatever extractor reads it, and the answer is replaced by 408
//! `REQUEST_TIMEOUT`.

use crate::api_error::ApiErr;
use crate::app::App;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bookstrack_protocol::ErrorCode;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The error a timed-out body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body sent nothing for {0:?}")]
pub struct BodyIdle(pub Duration);

pub async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let timeout = app.config.body_idle_timeout;
    let fired = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let body = Body::from_stream(idle_limited(body, timeout, fired.clone()));
    let res = next.run(Request::from_parts(parts, body)).await;
    if fired.load(Ordering::Acquire) {
        return ApiErr::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            format!(
                "the request body sent nothing for {} s",
                timeout.as_secs_f64()
            ),
        )
        .into_response();
    }
    res
}

/// `body`'s chunks, ending with [`BodyIdle`] (and `fired` set) after a wait
/// longer than `timeout` for the next.
fn idle_limited(
    body: Body,
    timeout: Duration,
    fired: Arc<AtomicBool>,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Send {
    let chunks = body.into_data_stream();
    futures_util::stream::unfold(Some(chunks), move |chunks| {
        let fired = fired.clone();
        async move {
            let mut chunks = chunks?;
            match tokio::time::timeout(timeout, chunks.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(chunks))),
                Ok(None) => None,
                Err(_) => {
                    fired.store(true, Ordering::Release);
                    Some((Err(axum::Error::new(BodyIdle(timeout))), None))
                }
            }
        }
    })
}
