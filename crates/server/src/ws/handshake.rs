//! The HTTP side of a WebSocket: checking the upgrade request, answering
//! 101, and taking the bare TCP stream once hyper lets go of it.
//!
//! The stream itself, not a wrapper around it, is what lets the job owner
//! write events without waiting (`TcpStream::try_write` takes `&self`).

use crate::api_error::ApiErr;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bookstrack_protocol::ErrorCode;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::future::Future;
use tokio::net::TcpStream;

/// An upgrade request that passed the checks of RFC 6455 §4.2.1.
pub struct Upgrade {
    accept: HeaderValue,
    on_upgrade: OnUpgrade,
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl Upgrade {
    pub fn check(parts: &mut Parts) -> Result<Upgrade, ApiErr> {
        let bad = |m: &str| ApiErr::bad_request(ErrorCode::InvalidRequest, m);
        if parts.method != Method::GET {
            return Err(ApiErr::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::InvalidRequest,
                "a WebSocket upgrade must be a GET",
            ));
        }
        let h = &parts.headers;
        if !has_token(h, header::CONNECTION, "upgrade") {
            return Err(bad("the Connection header does not include 'upgrade'"));
        }
        if !has_token(h, header::UPGRADE, "websocket") {
            return Err(bad("the Upgrade header is not 'websocket'"));
        }
        if h.get(header::SEC_WEBSOCKET_VERSION)
            .map(HeaderValue::as_bytes)
            != Some(b"13")
        {
            return Err(bad("Sec-WebSocket-Version must be 13"));
        }
        let Some(key) = h.get(header::SEC_WEBSOCKET_KEY) else {
            return Err(bad("the Sec-WebSocket-Key header is missing"));
        };
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Err(ApiErr::new(
                StatusCode::UPGRADE_REQUIRED,
                ErrorCode::InvalidRequest,
                "this connection cannot be upgraded",
            ));
        };
        Ok(Upgrade {
            accept: HeaderValue::from_str(&accept).expect("base64 is a header value"),
            on_upgrade,
        })
    }

    /// Answers 101; `session` runs on its own task with the stream and any
    /// bytes the client sent early, once hyper hands the connection over.
    pub fn respond<F, Fut>(self, tracker: &tokio_util::task::TaskTracker, session: F) -> Response
    where
        F: FnOnce(TcpStream, Vec<u8>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        let fut = async move {
            let upgraded = match on_upgrade.await {
                Ok(u) => u,
                Err(e) => {
                    tracing::debug!(error = %e, "WebSocket upgrade did not complete");
                    return;
                }
            };
            match upgraded.downcast::<TokioIo<TcpStream>>() {
                Ok(parts) => {
                    // A copy, so that these few bytes (usually none) do not
                    // keep hyper's whole read buffer alive with the socket.
                    let early = parts.read_buf.to_vec();
                    drop(parts.read_buf);
                    session(parts.io.into_inner(), early).await;
                }
                Err(_) => tracing::error!("an upgraded connection is not a TCP stream"),
            }
        };
        tracker.spawn(fut);
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, self.accept)
            .body(axum::body::Body::empty())
            .expect("valid response")
    }
}
