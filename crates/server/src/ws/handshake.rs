//! The HTTP side of a WebSocket: checking the upgrade request, answering
//! 101, and taking the bare TCP stream once hyper lets go of it.
//!
//! The stream itself, not a wrapper around it, is what lets the job owner
//! write events without waiting (`TcpStream::try_write` takes `&self`).

use crate::api_error::ApiErr;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bookstrack_protocol::ErrorCode;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::future::Future;
use tokio::net::TcpStream;

/// An upgrade request that passed the checks of RFC 6455 §4.2.1.
pub struct Upgrade {
    accept: HeaderValue,
    on_upgrade: OnUpgrade,
    /// The client offered permessage-deflate in a form we take.
    pub deflate: bool,
    /// The subprotocol chosen from the client's list, if any.
    pub subprotocol: Option<&'static str>,
}

/// What the 101 answers to an accepted deflate offer: no context takeover
/// either way (`hub::deflate`).
const DEFLATE_RESPONSE: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// Whether one extension offer is a permessage-deflate we can answer with
/// `DEFLATE_RESPONSE`: every parameter known, and no smaller server window
/// than ours asked for (miniz_oxide compresses with a 32 KiB window).
fn deflate_offer_ok(offer: &str) -> bool {
    let mut parts = offer.split(';').map(str::trim);
    if !parts
        .next()
        .is_some_and(|n| n.eq_ignore_ascii_case("permessage-deflate"))
    {
        return false;
    }
    parts.all(|p| {
        let (name, value) = p.split_once('=').map_or((p, None), |(n, v)| {
            (n.trim(), Some(v.trim().trim_matches('"')))
        });
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" | "client_no_context_takeover" => value.is_none(),
            "client_max_window_bits" => {
                value.is_none_or(|v| v.parse::<u8>().is_ok_and(|b| (8..=15).contains(&b)))
            }
            "server_max_window_bits" => value == Some("15"),
            _ => false,
        }
    })
}

fn offers_deflate(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(deflate_offer_ok)
}

/// Our subprotocols, in our order of preference, from the client's list.
fn choose_subprotocol(headers: &HeaderMap) -> Option<&'static str> {
    use bookstrack_protocol::mux::{JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL};
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    [MSGPACK_SUBPROTOCOL, JSON_SUBPROTOCOL]
        .into_iter()
        .find(|p| offered.contains(p))
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The one value of a header that must appear exactly once; `Err` with
/// what is wrong with it otherwise.
fn single(h: &HeaderMap, name: header::HeaderName) -> Result<&HeaderValue, &'static str> {
    let mut all = h.get_all(name).iter();
    match (all.next(), all.next()) {
        (Some(v), None) => Ok(v),
        (None, _) => Err("missing"),
        (Some(_), Some(_)) => Err("given more than once"),
    }
}

/// A `Sec-WebSocket-Key` is the base64 of 16 bytes (RFC 6455 §4.2.1 item 5).
fn key_ok(key: &HeaderValue) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(key.as_bytes())
        .is_ok_and(|k| k.len() == 16)
}

/// 426 with the version we speak (RFC 6455 §4.4): a missing or other
/// `Sec-WebSocket-Version`.
fn wrong_version() -> Response {
    let mut r = ApiErr::new(
        StatusCode::UPGRADE_REQUIRED,
        ErrorCode::InvalidRequest,
        "Sec-WebSocket-Version must be 13",
    )
    .into_response();
    r.headers_mut().insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    r
}

impl Upgrade {
    /// The checks of RFC 6455 §4.2.1 (and RFC 9112 §3.2 for `Host`): a
    /// refusal is the §2 envelope, 400 but for the version (426).
    pub fn check(parts: &mut Parts) -> Result<Upgrade, Box<Response>> {
        Self::checked(parts).map_err(Box::new)
    }

    // Boxed once, by `check`, on its way out: here the refusals are built.
    #[allow(clippy::result_large_err)]
    fn checked(parts: &mut Parts) -> Result<Upgrade, Response> {
        let bad = |m: String| ApiErr::bad_request(ErrorCode::InvalidRequest, m).into_response();
        if parts.method != Method::GET {
            return Err(ApiErr::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::InvalidRequest,
                "a WebSocket upgrade must be a GET",
            )
            .into_response());
        }
        let h = &parts.headers;
        if let Err(why) = single(h, header::HOST) {
            return Err(bad(format!("the Host header is {why}")));
        }
        if !has_token(h, header::CONNECTION, "upgrade") {
            return Err(bad(
                "the Connection header does not include 'upgrade'".into()
            ));
        }
        if !has_token(h, header::UPGRADE, "websocket") {
            return Err(bad("the Upgrade header is not 'websocket'".into()));
        }
        if single(h, header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Ok(b"13") {
            return Err(wrong_version());
        }
        let key = match single(h, header::SEC_WEBSOCKET_KEY) {
            Ok(k) if key_ok(k) => k,
            Ok(_) => {
                return Err(bad(
                    "the Sec-WebSocket-Key header is not the base64 of 16 bytes".into(),
                ))
            }
            Err(why) => return Err(bad(format!("the Sec-WebSocket-Key header is {why}"))),
        };
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Err(ApiErr::new(
                StatusCode::UPGRADE_REQUIRED,
                ErrorCode::InvalidRequest,
                "this connection cannot be upgraded",
            )
            .into_response());
        };
        Ok(Upgrade {
            accept: HeaderValue::from_str(&accept).expect("base64 is a header value"),
            on_upgrade,
            deflate: offers_deflate(h),
            subprotocol: choose_subprotocol(h),
        })
    }

    /// Answers 101; `session` runs on its own task with the stream and any
    /// bytes the client sent early, once hyper hands the connection over.
    pub fn respond<F, Fut>(self, tracker: &tokio_util::task::TaskTracker, session: F) -> Response
    where
        F: FnOnce(TcpStream, Vec<u8>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (deflate, subprotocol) = (self.deflate, self.subprotocol);
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
        let mut r = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, self.accept);
        if deflate {
            r = r.header(header::SEC_WEBSOCKET_EXTENSIONS, DEFLATE_RESPONSE);
        }
        if let Some(p) = subprotocol {
            r = r.header(header::SEC_WEBSOCKET_PROTOCOL, p);
        }
        r.body(axum::body::Body::empty()).expect("valid response")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deflate_offers_we_take_and_those_we_do_not() {
        for ok in [
            "permessage-deflate",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=10; server_no_context_takeover",
            "PerMessage-Deflate; server_max_window_bits=15",
        ] {
            assert!(deflate_offer_ok(ok), "{ok}");
        }
        for no in [
            "x-webkit-deflate-frame",
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; client_max_window_bits=20",
            "permessage-deflate; mystery",
        ] {
            assert!(!deflate_offer_ok(no), "{no}");
        }
        let mut h = HeaderMap::new();
        h.insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_static(
                "permessage-deflate; server_max_window_bits=9, permessage-deflate",
            ),
        );
        assert!(offers_deflate(&h), "the second offer is taken");
    }

    #[test]
    fn a_key_is_the_base64_of_16_bytes() {
        for ok in ["dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAA=="] {
            assert!(key_ok(&HeaderValue::from_static(ok)), "{ok}");
        }
        // 15 and 17 bytes, not base64, no padding, empty.
        for no in [
            "AAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAA=",
            "not base64 at all!!!!!==",
            "dGhlIHNhbXBsZSBub25jZQ",
            "",
        ] {
            assert!(!key_ok(&HeaderValue::from_static(no)), "{no}");
        }
    }

    #[test]
    fn msgpack_is_chosen_when_offered() {
        let mut h = HeaderMap::new();
        assert_eq!(choose_subprotocol(&h), None);
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("chat, bookstrack.msgpack"),
        );
        assert_eq!(choose_subprotocol(&h), Some("bookstrack.msgpack"));
    }
}
