//! The multiplexed socket, `/ws/jobs` (docs/PROTOCOL.md §22): one socket,
//! many jobs. What a client asks ([`MuxRequest`]) and the server's replies
//! that are not job events ([`Notice`]). Job events themselves keep the
//! per-job envelope ([`crate::Envelope`]), which already names its job and
//! carries its `seq`.

use crate::{ApiError, ErrorCode, Pipeline, PROTOCOL_VERSION};
use serde::{Deserialize, Serialize};

/// Client → server on `/ws/jobs`, as JSON text (or MessagePack binary on a
/// `bookstrack.msgpack` socket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MuxRequest {
    /// Follow a job from after `lastSeq` (0: from its first event).
    Subscribe {
        #[serde(rename = "jobId")]
        job_id: String,
        token: String,
        #[serde(rename = "lastSeq", default)]
        last_seq: u64,
    },
    Unsubscribe {
        #[serde(rename = "jobId")]
        job_id: String,
    },
    /// A token refreshed over HTTP, for a live subscription.
    Token {
        #[serde(rename = "jobId")]
        job_id: String,
        token: String,
    },
    /// Every event of the job up to `seq` arrived.
    Ack {
        #[serde(rename = "jobId")]
        job_id: String,
        seq: u64,
    },
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<i64>,
    },
    #[serde(other)]
    Unknown,
}

/// A notice's payload; its tag is the notice's `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NoticePayload {
    /// The subscription is live; the job's events follow.
    Subscribed {
        pipeline: Pipeline,
    },
    /// The subscription ended at the client's request.
    Unsubscribed {},
    /// The token handed over is the subscription's from now on.
    TokenAccepted {},
    /// A request refused. With a `jobId`, that job's subscription is not
    /// (or no longer) live; the socket stays open for the others.
    Error {
        error: ApiError,
    },
    Pong {},
}

/// Server → client on `/ws/jobs`, other than job events. Tells itself from
/// an event by having no `seq` and no `pipeline`; an `error` notice (no
/// `seq`) is about a subscription, never a job's outcome (a job's `error`
/// event has a `seq`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "jobId", default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    pub timestamp: i64,
    pub version: String,
    pub payload: NoticePayload,
}

impl Notice {
    pub fn new(job_id: Option<&str>, timestamp: i64, payload: NoticePayload) -> Notice {
        let kind = match &payload {
            NoticePayload::Subscribed { .. } => "subscribed",
            NoticePayload::Unsubscribed {} => "unsubscribed",
            NoticePayload::TokenAccepted {} => "token_accepted",
            NoticePayload::Error { .. } => "error",
            NoticePayload::Pong {} => "pong",
        };
        Notice {
            kind: kind.to_string(),
            job_id: job_id.map(str::to_string),
            timestamp,
            version: PROTOCOL_VERSION.to_string(),
            payload,
        }
    }

    pub fn error(
        job_id: Option<&str>,
        timestamp: i64,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Notice {
        let error = ApiError {
            code,
            message: message.into(),
        };
        Notice::new(job_id, timestamp, NoticePayload::Error { error })
    }
}

/// What a client reads on `/ws/jobs`: a job event or a notice.
#[derive(Debug, Clone, PartialEq)]
pub enum MuxMessage {
    Event(crate::Envelope),
    Notice(Notice),
}

impl MuxMessage {
    /// Parses one message: an envelope if it has a `pipeline` (every job
    /// event and `job_state` does), else a notice.
    pub fn from_value(v: serde_json::Value) -> Result<MuxMessage, serde_json::Error> {
        if v.get("pipeline").is_some() {
            serde_json::from_value(v).map(MuxMessage::Event)
        } else {
            serde_json::from_value(v).map(MuxMessage::Notice)
        }
    }

    pub fn from_json(text: &str) -> Result<MuxMessage, serde_json::Error> {
        Self::from_value(serde_json::from_str(text)?)
    }
}

/// The subprotocol that selects MessagePack frames (docs/PROTOCOL.md §23).
pub const MSGPACK_SUBPROTOCOL: &str = "bookstrack.msgpack";
/// The subprotocol naming today's JSON text frames, for clients that ask.
pub const JSON_SUBPROTOCOL: &str = "bookstrack.json";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_parse_and_unknown_types_are_kept_apart() {
        let r: MuxRequest =
            serde_json::from_str(r#"{"type":"subscribe","jobId":"a","token":"t"}"#).unwrap();
        assert_eq!(
            r,
            MuxRequest::Subscribe {
                job_id: "a".into(),
                token: "t".into(),
                last_seq: 0
            }
        );
        let a: MuxRequest = serde_json::from_str(r#"{"type":"ack","jobId":"a","seq":9}"#).unwrap();
        assert_eq!(
            a,
            MuxRequest::Ack {
                job_id: "a".into(),
                seq: 9
            }
        );
        let u: MuxRequest = serde_json::from_str(r#"{"type":"launch"}"#).unwrap();
        assert_eq!(u, MuxRequest::Unknown);
    }

    #[test]
    fn a_notice_is_told_from_an_event() {
        let n = Notice::error(Some("a"), 1, ErrorCode::InvalidToken, "no");
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["payload"]["type"], "error");
        assert_eq!(v["payload"]["error"]["code"], "INVALID_TOKEN");
        assert!(v.get("seq").is_none());
        assert_eq!(MuxMessage::from_value(v).unwrap(), MuxMessage::Notice(n));
        let f = crate::MessageFactory::new("a", Pipeline::CsvImport);
        let e = f.job_started(1, 1, 3);
        let back = MuxMessage::from_value(json!(serde_json::to_value(&e).unwrap())).unwrap();
        assert_eq!(back, MuxMessage::Event(e));
    }
}
