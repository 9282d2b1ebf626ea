//! Protocol v1 (`docs/PROTOCOL.md` §16): flat `progress` messages for clients that ask for
//! them with `&protocol=v1`. Derived from the v2 envelope so there is one
//! source of truth for what happened.

use crate::{Envelope, Payload};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V1Data {
    pub progress: f64,
    pub processed_items: u64,
    pub total_items: u64,
    pub current_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_work_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V1Message {
    #[serde(rename = "type")]
    pub kind: String,
    pub job_id: String,
    pub timestamp: i64,
    /// Not in the original v1 contract; extra keys are ignored by its decoder and let a v1
    /// client resume too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<V1Data>,
}

impl V1Message {
    /// The v1 rendering of a v2 message. `ready_ack` and `pong` keep their
    /// type (the v1 handshake, `docs/PROTOCOL.md` §16); every job event becomes a `progress`
    /// message as v1 clients expect, with `error` set for failures.
    pub fn from_envelope(env: &Envelope) -> V1Message {
        let data = match env.payload() {
            Payload::JobStarted { total_count } => Some(V1Data {
                progress: 0.0,
                processed_items: 0,
                total_items: *total_count,
                current_status: "Started".into(),
                current_work_id: None,
                error: None,
            }),
            Payload::JobProgress(p) => Some(V1Data {
                progress: p.progress,
                processed_items: p.books_processed.unwrap_or(0),
                total_items: p.total_books.unwrap_or(0),
                current_status: p.status.clone(),
                current_work_id: None,
                error: None,
            }),
            Payload::JobComplete { result } => {
                let total = result
                    .get("totalBooks")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                Some(V1Data {
                    progress: 1.0,
                    processed_items: total,
                    total_items: total,
                    current_status: "Complete".into(),
                    current_work_id: None,
                    error: None,
                })
            }
            Payload::Error { error } => Some(V1Data {
                progress: 0.0,
                processed_items: 0,
                total_items: 0,
                current_status: "Failed".into(),
                current_work_id: None,
                error: Some(error.message.clone()),
            }),
            Payload::JobState { state } => Some(V1Data {
                progress: state.progress(),
                processed_items: state.processed_count,
                total_items: state.total_count,
                current_status: state.current_status.clone(),
                current_work_id: None,
                error: None,
            }),
            Payload::Ping {} | Payload::Pong {} | Payload::ReadyAck {} => None,
        };
        let kind = match env.payload() {
            Payload::Ping {} => "ping",
            Payload::Pong {} => "pong",
            Payload::ReadyAck {} => "ready_ack",
            _ => "progress",
        };
        V1Message {
            kind: kind.into(),
            job_id: env.job_id().to_string(),
            timestamp: env.timestamp(),
            seq: env.seq(),
            data,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("v1 message serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MessageFactory, Pipeline, ProgressUpdate};
    use serde_json::{json, Value};

    #[test]
    fn progress_becomes_a_flat_v1_message() {
        let f = MessageFactory::new("550e", Pipeline::BatchEnrichment);
        let env = f.progress(
            7,
            1697654321000,
            ProgressUpdate {
                progress: 0.33,
                status: "Enriching: 1984 by George Orwell".into(),
                books_processed: Some(33),
                total_books: Some(100),
                current_title: None,
            },
        );
        let v: Value = serde_json::from_str(&V1Message::from_envelope(&env).to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type": "progress", "jobId": "550e", "timestamp": 1697654321000i64, "seq": 7,
                   "data": {"progress": 0.33, "processedItems": 33, "totalItems": 100,
                            "currentStatus": "Enriching: 1984 by George Orwell"}})
        );
    }

    #[test]
    fn errors_and_acks_keep_v1_shapes() {
        let f = MessageFactory::new("j", Pipeline::CsvImport);
        let err = V1Message::from_envelope(&f.error(
            3,
            1,
            crate::ErrorCode::ProcessingFailed,
            "API rate limit exceeded",
        ));
        assert_eq!(err.kind, "progress");
        assert_eq!(
            err.data.unwrap().error.as_deref(),
            Some("API rate limit exceeded")
        );
        let ack = V1Message::from_envelope(&f.ready_ack(9));
        assert_eq!(ack.kind, "ready_ack");
        assert!(ack.data.is_none());
    }
}
