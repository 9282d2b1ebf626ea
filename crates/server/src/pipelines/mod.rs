//! Pipelines: the work a job does. Each is a [`JobRunner`] built from the
//! job's stored parameters, so a restart can rebuild and resume it.

pub mod ai_scan;
pub mod csv_import;
pub mod enrichment;
pub mod synthetic;

use crate::job::JobRunner;
use serde_json::Value;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("unknown runner {0:?}")]
    UnknownRunner(String),
    #[error("this job needs its input file, which is gone")]
    InputMissing,
    #[error("bad job parameters: {0}")]
    BadParams(String),
}

/// Rebuilds a job's runner from what `create_job` stored.
pub fn runner_for(
    app: &crate::App,
    params: &Value,
    input: Option<&Path>,
) -> Result<Box<dyn JobRunner>, BuildError> {
    let runner = params.get("runner").and_then(Value::as_str).unwrap_or("");
    match runner {
        csv_import::RUNNER => {
            let input = input
                .filter(|p| p.exists())
                .ok_or(BuildError::InputMissing)?;
            Ok(Box::new(csv_import::CsvImport::from_params(params, input)?))
        }
        synthetic::RUNNER => Ok(Box::new(synthetic::Synthetic::from_params(params)?)),
        ai_scan::RUNNER => {
            let dir = input
                .filter(|p| p.is_dir())
                .ok_or(BuildError::InputMissing)?;
            Ok(Box::new(ai_scan::AiScan::from_params(
                params,
                dir,
                &app.config.scan,
                app.store.clone(),
            )?))
        }
        enrichment::RUNNER => Ok(Box::new(enrichment::Enrichment::from_params(
            params,
            app.enricher.clone(),
        )?)),
        other => Err(BuildError::UnknownRunner(other.to_string())),
    }
}
