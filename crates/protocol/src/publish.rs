//! The publisher API's wire types (docs/PROTOCOL.md §21): a job whose work
//! runs in another service, which pushes its progress through the hub. The
//! server (`crates/server/src/http/publish.rs`), the SDK's `Publisher` and
//! `bookstrack publish` all serialise these.

use crate::{ErrorCode, Pipeline};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /api/jobs`: an external job. `pipeline` is one of the three real
/// ones, so that the viewers' decoders (the Swift client's among them)
/// read its events as they read the built-in pipelines'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateExternalJob {
    pub pipeline: Pipeline,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u64>,
}

/// `data` of the 202 answer: what viewers use (`jobId`, `token`) and the
/// credential only the publisher holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExternalJobCreated {
    pub job_id: String,
    pub token: String,
    pub expires_at: i64,
    pub refreshable_from: i64,
    pub publisher_key: String,
    pub publisher_key_expires_at: i64,
}

/// One event a publisher sends. `seq`, `pipeline` and `version` are not
/// among its fields: the job's owner assigns them (unknown fields are refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PublishEvent {
    Progress {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// 0..=1; computed from `booksProcessed / totalBooks` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        progress: Option<f64>,
        #[serde(default)]
        status: String,
        #[serde(
            default,
            rename = "booksProcessed",
            skip_serializing_if = "Option::is_none"
        )]
        books_processed: Option<u64>,
        #[serde(
            default,
            rename = "totalBooks",
            skip_serializing_if = "Option::is_none"
        )]
        total_books: Option<u64>,
        #[serde(
            default,
            rename = "currentTitle",
            skip_serializing_if = "Option::is_none"
        )]
        current_title: Option<String>,
    },
    Complete {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// The pipeline's result fields (`books`, ...); the counts are the
        /// hub's own and are set from the job's state and the fields below.
        #[serde(default)]
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        result: Map<String, Value>,
        #[serde(
            default,
            rename = "successCount",
            skip_serializing_if = "Option::is_none"
        )]
        success_count: Option<u64>,
        #[serde(
            default,
            rename = "failureCount",
            skip_serializing_if = "Option::is_none"
        )]
        failure_count: Option<u64>,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        code: ErrorCode,
        message: String,
    },
}

impl PublishEvent {
    pub fn key(&self) -> Option<&str> {
        match self {
            PublishEvent::Progress { key, .. }
            | PublishEvent::Complete { key, .. }
            | PublishEvent::Error { key, .. } => key.as_deref(),
        }
    }

    pub fn is_terminal(&self) -> bool {
        !matches!(self, PublishEvent::Progress { .. })
    }
}

/// `POST /api/jobs/{jobId}/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    pub events: Vec<PublishEvent>,
}

/// What became of one published event, in the order sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PublishOutcome {
    /// Logged and sent as `seq`.
    Appended {
        seq: u64,
    },
    /// Its key was seen before: it was logged then, as `seq`.
    Duplicate {
        seq: u64,
    },
    Refused {
        error: crate::ApiError,
    },
}

impl PublishOutcome {
    pub fn seq(&self) -> Option<u64> {
        match self {
            PublishOutcome::Appended { seq } | PublishOutcome::Duplicate { seq } => Some(*seq),
            PublishOutcome::Refused { .. } => None,
        }
    }
}

/// The answer's `data` (200 when nothing was refused, 409 otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PublishResponse {
    pub results: Vec<PublishOutcome>,
    /// The job's newest seq after this request.
    pub last_seq: u64,
}

/// `POST /api/jobs/{jobId}/publisher-key/refresh`'s optional body: the new
/// key, chosen by the publisher (64 hex characters), so that a retry after
/// a lost answer is recognised instead of locking the publisher out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshPublisherKey {
    pub new_key: String,
}

/// `POST /api/jobs/{jobId}/publisher-key/refresh`'s `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PublisherKeyRefreshed {
    pub publisher_key: String,
    pub publisher_key_expires_at: i64,
}

/// An idempotency key: 1 to [`MAX_KEY_LEN`] bytes of `[A-Za-z0-9._:-]`, so
/// that it can never split a line of the event log nor carry a secret's
/// worth of arbitrary bytes.
pub const MAX_KEY_LEN: usize = 128;

pub fn valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_publisher_cannot_set_seq_pipeline_or_version() {
        for field in ["seq", "pipeline", "version"] {
            let mut ev = json!({"type": "progress", "booksProcessed": 1});
            ev[field] = json!(5);
            assert!(
                serde_json::from_value::<PublishEvent>(ev).is_err(),
                "{field} is refused"
            );
        }
    }

    #[test]
    fn events_read_as_documented() {
        let req: PublishRequest = serde_json::from_value(json!({"events": [
            {"type": "progress", "key": "a-1", "booksProcessed": 3, "totalBooks": 10, "status": "Reading"},
            {"type": "complete", "result": {"books": []}, "successCount": 9},
            {"type": "error", "code": "PROCESSING_FAILED", "message": "disk full"}
        ]}))
        .unwrap();
        assert_eq!(req.events[0].key(), Some("a-1"));
        assert!(!req.events[0].is_terminal());
        assert!(req.events[1].is_terminal() && req.events[2].is_terminal());
        let out = PublishOutcome::Appended { seq: 4 };
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({"status": "appended", "seq": 4})
        );
    }

    #[test]
    fn keys_are_short_and_plain() {
        assert!(valid_key("item-17:try.2_x"));
        assert!(!valid_key(""));
        assert!(!valid_key("a\nb"));
        assert!(!valid_key(&"k".repeat(MAX_KEY_LEN + 1)));
        assert!(valid_key(&"k".repeat(MAX_KEY_LEN)));
    }
}
