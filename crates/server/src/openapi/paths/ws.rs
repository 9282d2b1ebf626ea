//! The WebSocket upgrades (docs/PROTOCOL.md §6, §22, §23;
//! `crates/server/src/ws/mod.rs`, `ws/mux.rs`, `ws/handshake.rs`). Only the
//! HTTP side is described here: what the server answers instead of
//! upgrading. The messages on the socket are in PROTOCOL.md §7–§13, §22.

use bookstrack_protocol::ApiFailure;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(ws_progress, ws_jobs))]
pub struct Paths;

/// Follow one job over a WebSocket
///
/// An RFC 6455 upgrade (`Connection: Upgrade`, `Upgrade: websocket`,
/// `Sec-WebSocket-Version: 13`, `Sec-WebSocket-Key`), optionally offering
/// `permessage-deflate` and the `bookstrack.msgpack` subprotocol. The
/// checks run in the order of the answers below.
#[utoipa::path(
    get, path = "/ws/progress", tag = "websocket",
    params(
        ("jobId" = String, Query, description = "the job to follow"),
        ("token" = String, Query, description = "the job's current token (§3)"),
        ("lastSeq" = Option<u64>, Query, description = "the seq of the last event the client has (default 0, §12)"),
        ("protocol" = Option<String>, Query, description = "`v2` (default) or `v1` (§16)"),
    ),
    responses(
        (status = 101, description = "upgraded: the job's events follow"),
        (status = 400, description = "`INVALID_REQUEST`: a query that does not parse, no `jobId`, an unknown `protocol`, a request that is not a valid upgrade (the message names the header)", body = ApiFailure),
        (status = 401, description = "`INVALID_TOKEN` or `TOKEN_EXPIRED`", body = ApiFailure),
        (status = 404, description = "`JOB_NOT_FOUND`", body = ApiFailure),
        (status = 405, description = "`INVALID_REQUEST`: an upgrade by another method than GET", body = ApiFailure),
        (status = 426, description = "`INVALID_REQUEST`: a connection that cannot be upgraded", body = ApiFailure),
        (status = 429, description = "`TOO_MANY_CONNECTIONS`: the job already has `--max-viewers-per-job` viewers, or the server its sockets", body = ApiFailure),
        (status = 500, description = "`INTERNAL_ERROR`: storage failed", body = ApiFailure),
        (status = 503, description = "`INTERNAL_ERROR`: the server cannot take the socket now; see `Retry-After`", body = ApiFailure),
    )
)]
fn ws_progress() {}

/// Follow many jobs over one WebSocket
///
/// No query and no token: each job is subscribed to on the open socket
/// with its own token (§22).
#[utoipa::path(
    get, path = "/ws/jobs", tag = "websocket",
    responses(
        (status = 101, description = "upgraded: send `subscribe` messages"),
        (status = 400, description = "`INVALID_REQUEST`: not a valid upgrade (the message names the header)", body = ApiFailure),
        (status = 405, description = "`INVALID_REQUEST`: an upgrade by another method than GET", body = ApiFailure),
        (status = 426, description = "`INVALID_REQUEST`: a connection that cannot be upgraded", body = ApiFailure),
        (status = 429, description = "`TOO_MANY_CONNECTIONS`: the server or this client address already has its sockets", body = ApiFailure),
        (status = 503, description = "`INTERNAL_ERROR`: the server cannot take the socket now; see `Retry-After`", body = ApiFailure),
    )
)]
fn ws_jobs() {}
