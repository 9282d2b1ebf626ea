use crate::ErrorCode;
use serde::{Deserialize, Serialize};

/// `meta` of every HTTP envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Meta {
    pub timestamp: i64,
}

/// `{success: true, data, meta}`: clients read `.data.token` from it (docs/PROTOCOL.md §4.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiSuccess<T> {
    pub success: bool,
    pub data: T,
    pub meta: Meta,
}

impl<T> ApiSuccess<T> {
    pub fn new(data: T, now_ms: i64) -> Self {
        ApiSuccess {
            success: true,
            data,
            meta: Meta { timestamp: now_ms },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

/// `{success: false, error: {code, message}, meta}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiFailure {
    pub success: bool,
    pub error: ApiError,
    pub meta: Meta,
}

/// `data` of a job-start answer (202).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JobStarted {
    pub job_id: String,
    pub token: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_photos: Option<u64>,
    /// When the token stops working (ms since the epoch), so a client can
    /// refresh it in time; absent from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// From when `/api/token/refresh` accepts the token (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshable_from: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    pub job_id: String,
    pub old_token: String,
}

/// Every value is a string: the Swift client decodes `[String: String]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RefreshResponse {
    pub job_id: String,
    pub token: String,
    /// Milliseconds since the Unix epoch, as a decimal string.
    pub expires_at: String,
}

/// A row of the input that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowError {
    /// 1-based line-of-data number, the header being row 1: what a spreadsheet shows.
    pub row: u64,
    pub message: String,
}
