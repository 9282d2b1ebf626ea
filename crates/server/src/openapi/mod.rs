//! The OpenAPI 3.1 document of the HTTP API (docs/PROTOCOL.md §4, §6, §21,
//! §22), built by `utoipa` from the server's own wire types
//! (`crates/protocol` with its `openapi` feature, and the request types of
//! `crates/server/src/http/`). Served at `GET /openapi.json` and committed
//! as `docs/openapi.json`; the test below fails when the committed file is
//! stale (`BOOKSTRACK_BLESS=1` rewrites it). `schemathesis` checks the live
//! server against it (`crates/server/tests/it/contract.rs`).
//!
//! One file per resource under `paths/`: a new status or header of an
//! endpoint is one line in its file, next to the others of that endpoint.

mod paths;
pub mod schemas;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "BooksTrack progress service",
        description = "The HTTP side of the wire contract; the prose, the WebSocket messages and the limits are docs/PROTOCOL.md.",
        license(name = "MIT OR Apache-2.0"),
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "jobs", description = "Starting jobs and reading them (docs/PROTOCOL.md §4)"),
        (name = "tokens", description = "Token refresh (§4.7, §14)"),
        (name = "publisher", description = "External jobs (§21)"),
        (name = "websocket", description = "WebSocket upgrades (§6, §22); the messages are in PROTOCOL.md"),
        (name = "ops", description = "Health, metrics and this document"),
        (name = "page", description = "The web page and its assets (§20)"),
    )
)]
struct ApiDoc;

/// The job's token (viewers) or the publisher key (§21), as
/// `Authorization: Bearer <64 hex>`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a job's token, or an external job's publisher key"))
                    .build(),
            ),
        );
    }
}

/// The whole document: the shared parts above and every resource's paths.
pub fn document() -> Document {
    let mut doc = ApiDoc::openapi();
    for part in paths::all() {
        doc.merge(part);
    }
    doc
}

/// The document as committed in docs/openapi.json (pretty, newline-ended).
pub fn to_json() -> String {
    let mut s = document()
        .to_pretty_json()
        .expect("the document serialises");
    s.push('\n');
    s
}

/// `GET /openapi.json`.
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], to_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn committed() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
    }

    /// docs/openapi.json is what the server serves: regenerate it with
    /// `BOOKSTRACK_BLESS=1 cargo test -p bookstrack-server --lib openapi`.
    #[test]
    fn the_committed_document_is_current() {
        let fresh = to_json();
        if std::env::var_os("BOOKSTRACK_BLESS").is_some() {
            std::fs::write(committed(), &fresh).unwrap();
            return;
        }
        let on_disk = std::fs::read_to_string(committed()).unwrap_or_default();
        assert!(
            on_disk == fresh,
            "docs/openapi.json is stale: run BOOKSTRACK_BLESS=1 cargo test -p bookstrack-server --lib openapi"
        );
    }

    #[test]
    fn every_route_of_the_router_is_documented() {
        let doc = document();
        for path in [
            "/api/import/csv",
            "/api/import/csv-gemini",
            "/api/scan-bookshelf",
            "/api/scan-bookshelf/batch",
            "/api/enrichment/start",
            "/api/job-state/{job_id}",
            "/api/jobs/{job_id}/results",
            "/api/token/refresh",
            "/api/jobs",
            "/api/jobs/{job_id}/events",
            "/api/jobs/{job_id}/publisher-key/refresh",
            "/api/synthetic/jobs",
            "/ws/progress",
            "/ws/jobs",
            "/healthz",
            "/metrics",
            "/openapi.json",
            "/",
            "/js/app.js",
            "/js/follow.js",
            "/app.css",
        ] {
            assert!(
                doc.paths.paths.contains_key(path),
                "{path} is not documented"
            );
        }
        assert_eq!(
            doc.paths.paths.len(),
            21,
            "a path is documented twice or not routed"
        );
    }

    #[test]
    fn job_starts_document_the_limits_answers() {
        let doc = document();
        let v = serde_json::to_value(&doc).unwrap();
        for path in [
            "/api/import/csv",
            "/api/scan-bookshelf",
            "/api/scan-bookshelf/batch",
            "/api/enrichment/start",
            "/api/jobs",
        ] {
            let responses = &v["paths"][path]["post"]["responses"];
            for status in ["202", "400", "401", "408", "413", "429", "503"] {
                assert!(
                    responses.get(status).is_some(),
                    "{path} does not document {status}"
                );
            }
            let failure = &responses["400"]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(failure, "#/components/schemas/ApiFailure", "{path}");
        }
    }
}
