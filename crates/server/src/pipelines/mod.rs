//! Pipelines: the work a job does. A job's [`JobSpec`] is stored when it
//! starts, so a restart rebuilds the same runner from it and resumes.
//!
//! Adding a pipeline: a module here with its spec struct and its
//! [`JobRunner`], a variant of [`JobSpec`], and a `Pipeline` variant in
//! `crates/protocol/src/job.rs`; the compiler then points at every match
//! left to extend (README, "Adding a pipeline").

pub mod ai_scan;
pub mod csv_import;
pub mod enrichment;
pub mod external;
pub mod outbound;
pub mod synthetic;

use crate::config::ScanConfig;
use crate::job::JobRunner;
use crate::store::LookupStore;
use bookstrack_protocol::Pipeline;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("this job needs its input file, which is gone")]
    InputMissing,
    #[error("bad job parameters: {0}")]
    BadParams(String),
    #[error(transparent)]
    TooManyJobs(#[from] external::TooManyJobs),
}

/// What a job runs, as stored with it: one variant per pipeline, tagged by
/// `runner` in the stored JSON (the tags of the first release, so data dirs
/// written before this type still resume).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "runner", rename_all = "snake_case")]
pub enum JobSpec {
    CsvImport(csv_import::CsvImportSpec),
    #[serde(rename = "batch_enrichment")]
    Enrichment(enrichment::EnrichmentSpec),
    AiScan(ai_scan::AiScanSpec),
    Synthetic(synthetic::Synthetic),
    External(external::ExternalSpec),
}

/// What the pipelines use of the server: nothing of the job side, which
/// they reach only through their `JobContext`.
#[derive(Clone)]
pub struct PipelineDeps {
    pub scan: ScanConfig,
    /// Decodes and Tesseract processes at once, across every scan.
    pub scan_gates: ai_scan::gate::Gates,
    pub lookups: Arc<dyn LookupStore>,
    /// Shared by every enrichment job, so that rate limits hold across jobs.
    pub enricher: Arc<enrichment::Enricher>,
    /// External jobs' publishers and limits.
    pub external: external::ExternalDeps,
    /// `--max-csv-field-bytes`: a longer field makes its row an error.
    pub max_csv_field_bytes: usize,
}

impl JobSpec {
    /// The label of every event the job sends.
    pub fn pipeline(&self) -> Pipeline {
        match self {
            JobSpec::CsvImport(_) => Pipeline::CsvImport,
            JobSpec::Enrichment(_) => Pipeline::BatchEnrichment,
            JobSpec::AiScan(_) => Pipeline::AiScan,
            JobSpec::Synthetic(_) => Pipeline::Synthetic,
            JobSpec::External(s) => s.pipeline,
        }
    }

    /// Reads a stored spec back; `BadParams` if no variant matches.
    pub fn from_stored(params: &serde_json::Value) -> Result<JobSpec, BuildError> {
        JobSpec::deserialize(params).map_err(|e| BuildError::BadParams(e.to_string()))
    }

    /// The runner, over the job's spooled `input` (a file or a folder).
    pub fn build(
        self,
        deps: &PipelineDeps,
        input: Option<&Path>,
    ) -> Result<Box<dyn JobRunner>, BuildError> {
        Ok(match self {
            JobSpec::CsvImport(s) => Box::new(csv_import::CsvImport::build(
                s,
                input,
                deps.max_csv_field_bytes,
            )?),
            JobSpec::Enrichment(s) => {
                Box::new(enrichment::Enrichment::build(s, deps.enricher.clone())?)
            }
            JobSpec::AiScan(s) => Box::new(ai_scan::AiScan::build(
                s,
                input,
                &deps.scan,
                &deps.scan_gates,
                deps.lookups.clone(),
            )?),
            JobSpec::Synthetic(s) => Box::new(s),
            JobSpec::External(s) => Box::new(external::External::build(s, &deps.external)?),
        })
    }
}
