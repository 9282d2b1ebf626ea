//! The web page and its assets (docs/PROTOCOL.md §20;
//! `crates/server/src/http/page.rs`): each with an `ETag`, answering 304
//! to a matching `If-None-Match`.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(index, app_js, follow_js, app_css))]
pub struct Paths;

/// The web page
#[utoipa::path(
    get, path = "/", tag = "page",
    params(("If-None-Match" = Option<String>, Header, description = "an `ETag` from before")),
    responses(
        (status = 200, description = "the page", body = String, content_type = "text/html"),
        (status = 304, description = "unchanged since that `ETag`"),
    ),
)]
fn index() {}

/// The page's script
#[utoipa::path(
    get, path = "/js/app.js", tag = "page",
    params(("If-None-Match" = Option<String>, Header, description = "an `ETag` from before")),
    responses(
        (status = 200, description = "the script", body = String, content_type = "text/javascript"),
        (status = 304, description = "unchanged since that `ETag`"),
    ),
)]
fn app_js() {}

/// The job-following ES module (docs/web-client.md), importable cross-origin
#[utoipa::path(
    get, path = "/js/follow.js", tag = "page",
    params(("If-None-Match" = Option<String>, Header, description = "an `ETag` from before")),
    responses(
        (status = 200, description = "the module", body = String, content_type = "text/javascript"),
        (status = 304, description = "unchanged since that `ETag`"),
    ),
)]
fn follow_js() {}

/// The page's style sheet
#[utoipa::path(
    get, path = "/app.css", tag = "page",
    params(("If-None-Match" = Option<String>, Header, description = "an `ETag` from before")),
    responses(
        (status = 200, description = "the style sheet", body = String, content_type = "text/css"),
        (status = 304, description = "unchanged since that `ETag`"),
    ),
)]
fn app_css() {}
