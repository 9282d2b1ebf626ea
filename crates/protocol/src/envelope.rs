use crate::{ApiError, ErrorCode, JobState, Pipeline, PROTOCOL_VERSION};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The envelope's `type`. It always equals `payload.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    JobStarted,
    JobProgress,
    JobComplete,
    Error,
    JobState,
    Ping,
    Pong,
    ReadyAck,
}

/// `payload.progress` and friends of a `job_progress` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressUpdate {
    pub progress: f64,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub books_processed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_books: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_title: Option<String>,
}

/// A message's payload; its serde tag is the `payload.type` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Payload {
    JobStarted {
        #[serde(rename = "totalCount")]
        total_count: u64,
    },
    JobProgress(ProgressUpdate),
    /// `result` holds at least `totalBooks`, `successCount` and `failureCount`
    /// (the Swift `JobResult` requires them) plus pipeline-specific extras.
    JobComplete {
        result: Map<String, Value>,
    },
    Error {
        error: ApiError,
    },
    JobState {
        state: Box<JobState>,
    },
    Ping {},
    Pong {},
    ReadyAck {},
}

impl Payload {
    pub fn message_type(&self) -> MessageType {
        match self {
            Payload::JobStarted { .. } => MessageType::JobStarted,
            Payload::JobProgress(_) => MessageType::JobProgress,
            Payload::JobComplete { .. } => MessageType::JobComplete,
            Payload::Error { .. } => MessageType::Error,
            Payload::JobState { .. } => MessageType::JobState,
            Payload::Ping {} => MessageType::Ping,
            Payload::Pong {} => MessageType::Pong,
            Payload::ReadyAck {} => MessageType::ReadyAck,
        }
    }

    /// `job_complete` and `error` end a job: never dropped, followed by close 1000.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Payload::JobComplete { .. } | Payload::Error { .. })
    }
}

/// One server → client message (docs/PROTOCOL.md §7).
///
/// The fields are private so that the server can only build envelopes through
/// [`MessageFactory`], which stamps the job's own pipeline on every message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "type")]
    kind: MessageType,
    #[serde(rename = "jobId")]
    job_id: String,
    pipeline: Pipeline,
    timestamp: i64,
    version: String,
    /// Present on job events (the ones a viewer can resume from); absent on
    /// control messages such as `pong`, `ready_ack` and `job_state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    payload: Payload,
}

impl Envelope {
    pub fn kind(&self) -> MessageType {
        self.kind
    }
    pub fn job_id(&self) -> &str {
        &self.job_id
    }
    pub fn pipeline(&self) -> Pipeline {
        self.pipeline
    }
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }
    pub fn version(&self) -> &str {
        &self.version
    }
    pub fn seq(&self) -> Option<u64> {
        self.seq
    }
    pub fn payload(&self) -> &Payload {
        &self.payload
    }
    pub fn into_payload(self) -> Payload {
        self.payload
    }
    /// A decoded envelope whose `type` disagrees with `payload.type` is malformed.
    pub fn is_consistent(&self) -> bool {
        self.kind == self.payload.message_type()
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("envelope serialises")
    }
}

/// Builds every message of one job. Holding the job id and pipeline here is
/// what makes a message with another job's pipeline impossible to produce.
#[derive(Debug, Clone)]
pub struct MessageFactory {
    job_id: String,
    pipeline: Pipeline,
}

impl MessageFactory {
    pub fn new(job_id: impl Into<String>, pipeline: Pipeline) -> Self {
        MessageFactory {
            job_id: job_id.into(),
            pipeline,
        }
    }

    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    pub fn pipeline(&self) -> Pipeline {
        self.pipeline
    }

    fn build(&self, seq: Option<u64>, timestamp: i64, payload: Payload) -> Envelope {
        Envelope {
            kind: payload.message_type(),
            job_id: self.job_id.clone(),
            pipeline: self.pipeline,
            timestamp,
            version: PROTOCOL_VERSION.to_string(),
            seq,
            payload,
        }
    }

    /// A job event with its sequence number. Control payloads are refused
    /// here because they do not belong in the resumable event log.
    pub fn event(&self, seq: u64, timestamp: i64, payload: Payload) -> Envelope {
        assert!(
            matches!(
                payload,
                Payload::JobStarted { .. }
                    | Payload::JobProgress(_)
                    | Payload::JobComplete { .. }
                    | Payload::Error { .. }
            ),
            "control message used as a job event"
        );
        self.build(Some(seq), timestamp, payload)
    }

    pub fn job_started(&self, seq: u64, timestamp: i64, total_count: u64) -> Envelope {
        self.event(seq, timestamp, Payload::JobStarted { total_count })
    }

    pub fn progress(&self, seq: u64, timestamp: i64, update: ProgressUpdate) -> Envelope {
        self.event(seq, timestamp, Payload::JobProgress(update))
    }

    pub fn complete(
        &self,
        seq: u64,
        timestamp: i64,
        total_books: u64,
        success_count: u64,
        failure_count: u64,
        extras: Map<String, Value>,
    ) -> Envelope {
        let mut result = extras;
        result.insert("totalBooks".into(), total_books.into());
        result.insert("successCount".into(), success_count.into());
        result.insert("failureCount".into(), failure_count.into());
        self.event(seq, timestamp, Payload::JobComplete { result })
    }

    pub fn error(
        &self,
        seq: u64,
        timestamp: i64,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Envelope {
        let error = ApiError {
            code,
            message: message.into(),
        };
        self.event(seq, timestamp, Payload::Error { error })
    }

    /// The state snapshot sent before a resume that retention cannot cover.
    pub fn job_state(&self, timestamp: i64, state: JobState) -> Envelope {
        assert!(
            state.job_id == self.job_id && state.pipeline == self.pipeline,
            "job state of another job"
        );
        self.build(
            None,
            timestamp,
            Payload::JobState {
                state: Box::new(state),
            },
        )
    }

    pub fn pong(&self, timestamp: i64) -> Envelope {
        self.build(None, timestamp, Payload::Pong {})
    }

    pub fn ping(&self, timestamp: i64) -> Envelope {
        self.build(None, timestamp, Payload::Ping {})
    }

    pub fn ready_ack(&self, timestamp: i64) -> Envelope {
        self.build(None, timestamp, Payload::ReadyAck {})
    }
}

/// Client → server text frames. Unknown types are tolerated and ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Ready {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<i64>,
    },
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<i64>,
    },
    /// Every event up to `seq` arrived (docs/PROTOCOL.md §22).
    Ack { seq: u64 },
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progress_matches_the_spec_shape() {
        let f = MessageFactory::new("abc123", Pipeline::CsvImport);
        let m = f.progress(
            42,
            1_700_000_000_000,
            ProgressUpdate {
                progress: 0.5,
                status: "Processing batch 5 of 10".into(),
                books_processed: Some(50),
                total_books: Some(100),
                current_title: None,
            },
        );
        let v: Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type": "job_progress", "jobId": "abc123", "pipeline": "csv_import",
                   "timestamp": 1_700_000_000_000i64, "version": "1.0.0", "seq": 42,
                   "payload": {"type": "job_progress", "progress": 0.5,
                               "status": "Processing batch 5 of 10",
                               "booksProcessed": 50, "totalBooks": 100}})
        );
    }

    #[test]
    fn complete_carries_the_counts_swift_requires() {
        let f = MessageFactory::new("j", Pipeline::AiScan);
        let mut extras = Map::new();
        extras.insert("books".into(), json!([]));
        let m = f.complete(3, 1, 10, 9, 1, extras);
        let v: Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(v["type"], "job_complete");
        assert_eq!(v["payload"]["type"], "job_complete");
        assert_eq!(v["pipeline"], "ai_scan");
        assert_eq!(v["payload"]["result"]["totalBooks"], 10);
        assert_eq!(v["payload"]["result"]["successCount"], 9);
        assert_eq!(v["payload"]["result"]["failureCount"], 1);
        assert_eq!(v["payload"]["result"]["books"], json!([]));
    }

    #[test]
    fn every_message_type_round_trips_and_is_consistent() {
        let f = MessageFactory::new("j", Pipeline::BatchEnrichment);
        let state = JobState::new("j", Pipeline::BatchEnrichment, 5);
        let all = vec![
            f.job_started(1, 1, 3),
            f.error(2, 1, ErrorCode::ProcessingFailed, "boom"),
            f.job_state(1, state),
            f.pong(1),
            f.ping(1),
            f.ready_ack(1),
        ];
        for m in all {
            let back: Envelope = serde_json::from_str(&m.to_json()).unwrap();
            assert!(back.is_consistent());
            assert_eq!(back, m);
            assert_eq!(back.pipeline(), Pipeline::BatchEnrichment);
            let v: Value = serde_json::from_str(&m.to_json()).unwrap();
            assert_eq!(v["type"], v["payload"]["type"]);
            assert_eq!(v["version"], "1.0.0");
        }
    }

    #[test]
    fn control_messages_have_no_seq() {
        let f = MessageFactory::new("j", Pipeline::CsvImport);
        let v: Value = serde_json::from_str(&f.pong(1).to_json()).unwrap();
        assert!(v.get("seq").is_none());
    }

    #[test]
    #[should_panic(expected = "job state of another job")]
    fn factory_refuses_another_jobs_state() {
        let f = MessageFactory::new("j", Pipeline::CsvImport);
        f.job_state(1, JobState::new("j", Pipeline::AiScan, 0));
    }

    #[test]
    fn client_messages_parse_and_tolerate_unknown_types() {
        let r: ClientMessage =
            serde_json::from_str(r#"{"type":"ready","timestamp":1697654321000}"#).unwrap();
        assert_eq!(
            r,
            ClientMessage::Ready {
                timestamp: Some(1697654321000)
            }
        );
        let p: ClientMessage = serde_json::from_str(r#"{"type":"ping"}"#).unwrap();
        assert_eq!(p, ClientMessage::Ping { timestamp: None });
        let u: ClientMessage = serde_json::from_str(r#"{"type":"getJobStatus"}"#).unwrap();
        assert_eq!(u, ClientMessage::Unknown);
    }
}
