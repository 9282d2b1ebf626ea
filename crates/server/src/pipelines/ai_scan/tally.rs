//! What a scan has found so far, photo by photo: the counts and items its
//! progress reports carry, and the `job_complete` extras at the end.

use super::matcher::Detected;
use crate::job::{JobFailure, ProgressReport, Verdict};
use crate::store::Item;
use bookstrack_protocol::{ErrorCode, RowError};
use serde_json::{json, Map, Value};

pub(super) struct Tally {
    pub success: u64,
    pub failure: u64,
    books: Vec<Detected>,
    suggestions: Vec<Detected>,
    failed: Vec<Value>,
}

impl Tally {
    /// Photos done before a restart have their results stored already:
    /// only their counts carry over.
    pub fn resumed(success: u64, failure: u64) -> Tally {
        Tally {
            success,
            failure,
            books: Vec::new(),
            suggestions: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// A photo read: `r` (its "received" report) becomes the report of its
    /// books and suggestions.
    pub fn read(&mut self, r: &mut ProgressReport, found: Vec<Detected>, sugg: Vec<Detected>) {
        self.success += 1;
        r.processed += 1;
        r.cursor = r.processed;
        r.success = self.success;
        r.items = found.iter().chain(&sugg).map(item).collect();
        self.books.extend(found);
        self.suggestions.extend(sugg);
    }

    /// A photo that could not be read: `r` becomes the report of its error.
    pub fn unreadable(&mut self, r: &mut ProgressReport, num: usize, n: usize, e: String) {
        self.failure += 1;
        r.processed += 1;
        r.cursor = r.processed;
        r.failure = self.failure;
        r.status = format!("Photo {num} of {n} could not be read");
        r.errors.push(RowError {
            row: num as u64,
            message: e.clone(),
        });
        self.failed.push(json!({"photo": num, "error": e}));
    }

    /// The job's verdict once every one of its `n` photos is done.
    pub fn verdict(self, n: usize) -> Verdict {
        if self.success == 0 {
            return Err(JobFailure::new(
                ErrorCode::AiScanError,
                format!(
                    "nothing could be read from the {n} photo(s): {}",
                    self.failed
                        .iter()
                        .filter_map(|f| f["error"].as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ));
        }
        let mut extras = Map::new();
        extras.insert("books".into(), json!(self.books));
        extras.insert("suggestions".into(), json!(self.suggestions));
        extras.insert("failedPhotos".into(), json!(self.failed));
        Ok(extras)
    }
}

/// A detected book as an output record, flagged as a suggestion when
/// nothing identifies it and the match is weak.
fn item(d: &Detected) -> Item {
    let mut v = serde_json::to_value(d).expect("serialises");
    v["suggestion"] = json!(d.work_id.is_none() && d.isbn.is_none() && d.confidence < 0.5);
    Item {
        work_id: d.work_id.clone(),
        json: v.to_string(),
    }
}
