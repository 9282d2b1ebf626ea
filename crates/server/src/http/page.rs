//! The web page at `GET /` and its assets, compiled into the binary so the
//! server stays one file with no front-end build (sources in
//! `crates/server/web/`, the job-following module documented in
//! docs/web-client.md).
//!
//! Each asset is sent with `Cache-Control: no-cache` and an `ETag` that is
//! a hash of its own bytes: a browser revalidates on every load, and any
//! upgrade that changes a file changes its tag, so stale script is never run.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// What the page may load: only its own origin (which, for `connect-src`,
/// includes its own `ws:`/`wss:`), plus `data:`/`blob:` images.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data: blob:; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: u64,
    /// The job-following module may be imported by pages of other origins.
    cross_origin: bool,
}

/// FNV-1a at compile time: a cheap, stable fingerprint of an asset's bytes.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

macro_rules! asset {
    ($file:literal, $type:literal, $cross:literal) => {{
        const BODY: &str = include_str!(concat!("../../web/", $file));
        Asset {
            body: BODY,
            content_type: $type,
            etag: fnv1a(BODY.as_bytes()),
            cross_origin: $cross,
        }
    }};
}

static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8", false);
static APP_JS: Asset = asset!("app.js", "text/javascript; charset=utf-8", false);
static FOLLOW_JS: Asset = asset!("follow.js", "text/javascript; charset=utf-8", true);
static APP_CSS: Asset = asset!("app.css", "text/css; charset=utf-8", false);

/// The page's routes; stateless, so they merge into any router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|h: HeaderMap| async move { serve(&INDEX, &h) }))
        .route(
            "/js/app.js",
            get(|h: HeaderMap| async move { serve(&APP_JS, &h) }),
        )
        .route(
            "/js/follow.js",
            get(|h: HeaderMap| async move { serve(&FOLLOW_JS, &h) }),
        )
        .route(
            "/app.css",
            get(|h: HeaderMap| async move { serve(&APP_CSS, &h) }),
        )
}

fn serve(asset: &'static Asset, req: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", asset.etag);
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a valid header"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if asset.cross_origin {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_bytes() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert_eq!(APP_JS.etag, fnv1a(APP_JS.body.as_bytes()));
        assert_ne!(APP_JS.etag, FOLLOW_JS.etag);
    }

    #[test]
    fn a_matching_tag_answers_304_with_the_same_headers() {
        let first = serve(&FOLLOW_JS, &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let tag = first.headers()[header::ETAG].clone();
        assert_eq!(first.headers()[header::CACHE_CONTROL], "no-cache");
        let mut req = HeaderMap::new();
        req.insert(header::IF_NONE_MATCH, tag.clone());
        let again = serve(&FOLLOW_JS, &req);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], tag);
        req.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"0\""));
        assert_eq!(serve(&FOLLOW_JS, &req).status(), StatusCode::OK);
        assert!(
            serve(&INDEX, &req).headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("connect-src 'self'")
        );
    }
}
