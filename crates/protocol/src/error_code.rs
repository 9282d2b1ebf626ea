use serde::{Deserialize, Serialize};
use std::fmt;

/// Error codes shared by HTTP error bodies and WebSocket `error` events.
///
/// The first seven are the original design's (docs/PROTOCOL.md §2); the
/// others exist because none of those fits
/// (a request body that is not what the endpoint takes, a full job, a refresh
/// that lost its race).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ConnectionFailed,
    InvalidToken,
    TokenExpired,
    JobNotFound,
    ProcessingFailed,
    CsvParseError,
    AiScanError,
    /// A request that is malformed for reasons other than a CSV's content.
    InvalidRequest,
    /// An upload over the configured size limit (HTTP 413).
    PayloadTooLarge,
    /// An upload of a type the endpoint does not read (HTTP 415).
    UnsupportedMediaType,
    /// The job already has as many viewers as it allows (HTTP 429).
    TooManyConnections,
    /// A token refresh that lost to a concurrent one, or a token already replaced (HTTP 409).
    Conflict,
    /// A token refresh asked for before the refresh window opened (HTTP 400).
    RefreshTooEarly,
    /// Something failed on the server's side (HTTP 500).
    InternalError,
    /// A published progress behind one already sent (docs/PROTOCOL.md §21).
    StaleProgress,
    /// An event published after the job's terminal event (§21).
    JobEnded,
    /// Too many requests or jobs for a limit; `Retry-After` says when (HTTP 429).
    RateLimited,
    /// A multiplexed socket already follows as many jobs as it may
    /// (docs/PROTOCOL.md §22).
    TooManySubscriptions,
    /// A request body that stopped arriving (HTTP 408, `--body-idle-timeout-secs`).
    RequestTimeout,
    /// A job-creating request (or `/metrics`) without the server's
    /// configured credential (HTTP 401).
    Unauthorized,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ConnectionFailed => "CONNECTION_FAILED",
            ErrorCode::InvalidToken => "INVALID_TOKEN",
            ErrorCode::TokenExpired => "TOKEN_EXPIRED",
            ErrorCode::JobNotFound => "JOB_NOT_FOUND",
            ErrorCode::ProcessingFailed => "PROCESSING_FAILED",
            ErrorCode::CsvParseError => "CSV_PARSE_ERROR",
            ErrorCode::AiScanError => "AI_SCAN_ERROR",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::TooManyConnections => "TOO_MANY_CONNECTIONS",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::RefreshTooEarly => "REFRESH_TOO_EARLY",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::StaleProgress => "STALE_PROGRESS",
            ErrorCode::JobEnded => "JOB_ENDED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
