//! `--max-import-output-bytes`: the output one job may write, counted as
//! its reports arrive (`Owner::count_output`).

use super::Owner;
use crate::job::{JobFailure, ProgressReport};

impl Owner {
    /// Counts a report's output against `--max-import-output-bytes`; past
    /// it the job fails rather than fill the disk (issue 17: the database
    /// grew ~7× the CSV).
    pub(super) fn count_output(&mut self, r: &ProgressReport) -> Result<(), JobFailure> {
        let bytes: usize = r.items.iter().map(|i| i.json.len()).sum::<usize>()
            + r.errors.iter().map(|e| e.message.len() + 16).sum::<usize>();
        self.output_bytes += bytes as u64;
        let max = self.deps.limits.max_output_bytes;
        if self.output_bytes > max {
            return Err(JobFailure::new(
                bookstrack_protocol::ErrorCode::ProcessingFailed,
                format!("the job's output is larger than the limit of {max} bytes"),
            ));
        }
        Ok(())
    }
}
