use serde::{Deserialize, Serialize};
use std::fmt;

/// Which kind of job produced a message; part of every v2 envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Pipeline {
    CsvImport,
    BatchEnrichment,
    AiScan,
    /// The server's load-test jobs (`--synthetic-jobs`), never a user's.
    Synthetic,
}

impl Pipeline {
    pub const ALL: [Pipeline; 4] = [
        Pipeline::CsvImport,
        Pipeline::BatchEnrichment,
        Pipeline::AiScan,
        Pipeline::Synthetic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Pipeline::CsvImport => "csv_import",
            Pipeline::BatchEnrichment => "batch_enrichment",
            Pipeline::AiScan => "ai_scan",
            Pipeline::Synthetic => "synthetic",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Job lifecycle. Terminal states are sticky: once reached, nothing changes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Complete,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Complete | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Complete => "complete",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Complete,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// The job state of docs/PROTOCOL.md §5.1: the body of `/api/job-state` and what is persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    pub job_id: String,
    pub pipeline: Pipeline,
    pub status: JobStatus,
    pub total_count: u64,
    pub processed_count: u64,
    pub success_count: u64,
    pub failure_count: u64,
    pub current_status: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub version: u64,
    pub last_seq: u64,
    /// The highest seq a client acknowledged (docs/PROTOCOL.md §22); absent
    /// until one does. Kept by the store beside the state, not in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_seq: Option<u64>,
}

impl JobState {
    pub fn new(job_id: impl Into<String>, pipeline: Pipeline, now_ms: i64) -> Self {
        JobState {
            job_id: job_id.into(),
            pipeline,
            status: JobStatus::Queued,
            total_count: 0,
            processed_count: 0,
            success_count: 0,
            failure_count: 0,
            current_status: "Queued".into(),
            start_time: now_ms,
            end_time: None,
            version: 1,
            last_seq: 0,
            acked_seq: None,
        }
    }

    /// Fraction done in 0.0–1.0; a job with no known total reports 0 until it ends.
    pub fn progress(&self) -> f64 {
        if self.status == JobStatus::Complete {
            1.0
        } else if self.total_count == 0 {
            0.0
        } else {
            (self.processed_count as f64 / self.total_count as f64).clamp(0.0, 1.0)
        }
    }
}
