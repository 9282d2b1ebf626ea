//! Health, metrics and this document (docs/PROTOCOL.md §4.8;
//! `crates/server/src/routes.rs`, `crates/server/src/openapi/mod.rs`).

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(healthz, metrics, openapi_json))]
pub struct Paths;

/// Liveness
#[utoipa::path(
    get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")),
)]
fn healthz() {}

/// Prometheus metrics (text format 0.0.4)
#[utoipa::path(
    get, path = "/metrics", tag = "ops",
    responses(
        (status = 200, description = "the counters and gauges of §4.8, §21.6, §22", body = String, content_type = "text/plain"),
        (status = 401, description = "`UNAUTHORIZED`: the server requires a metrics credential and none valid was sent", body = bookstrack_protocol::ApiFailure),
    ),
)]
fn metrics() {}

/// This document (docs/openapi.json)
#[utoipa::path(
    get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "the OpenAPI 3.1 document", body = Object, content_type = "application/json")),
)]
fn openapi_json() {}
