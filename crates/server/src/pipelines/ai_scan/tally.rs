//! What a scan has found so far: the counts its progress reports carry,
//! book by book, and the `job_complete` extras at the end. Counts are of
//! books, as every client reads them: `totalBooks` the books found,
//! `successCount` those matched to a known book, `failureCount` those read
//! but not matched. A photo that could not be read is listed in
//! `failedPhotos` and counted as no book.

use super::matcher::Detected;
use crate::job::{JobFailure, ProgressReport, Verdict};
use crate::store::Item;
use bookstrack_protocol::{ErrorCode, RowError};
use serde_json::{json, Map, Value};

pub(super) struct Tally {
    /// Books found on the photos so far.
    pub total: u64,
    /// Books read, from the first found: the restart cursor.
    read: u64,
    success: u64,
    failure: u64,
    /// Found but read as nothing legible: not books after all.
    illegible: u64,
    photos_read: usize,
    books: Vec<Detected>,
    suggestions: Vec<Detected>,
    failed: Vec<Value>,
}

impl Tally {
    /// `read` books were read before a restart, their results stored
    /// already: only their counts carry over.
    pub fn resumed(read: u64, success: u64, failure: u64) -> Tally {
        Tally {
            total: 0,
            read,
            success,
            failure,
            illegible: read.saturating_sub(success + failure),
            photos_read: 0,
            books: Vec::new(),
            suggestions: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// A report of where the scan stands, saying `status`.
    pub fn report(&self, status: String) -> ProgressReport {
        ProgressReport {
            status,
            processed: self.read,
            cursor: self.read,
            success: self.success,
            failure: self.failure,
            ..Default::default()
        }
    }

    /// A photo located: its books are found and counted in `total`.
    pub fn located(&mut self, books: u64) {
        self.photos_read += 1;
        self.total += books;
    }

    /// A photo that could not be read: the report of its error.
    pub fn unreadable(&mut self, num: usize, n: usize, e: String) -> ProgressReport {
        let mut r = self.report(format!("Photo {num} of {n} could not be read"));
        r.errors.push(RowError {
            row: num as u64,
            message: e.clone(),
        });
        self.failed.push(json!({"photo": num, "error": e}));
        r
    }

    /// The next found book, on photo `photo`, read: matched (true),
    /// suggested (false), too little to suggest (None) or not readable at
    /// all (the error, listed against its photo as a photo's would be).
    pub fn book(
        &mut self,
        status: String,
        photo: usize,
        read: Result<Option<(Detected, bool)>, String>,
    ) -> ProgressReport {
        self.read += 1;
        let mut item = None;
        match read {
            Ok(Some((d, true))) => {
                self.success += 1;
                item = Some(d);
            }
            Ok(Some((d, false))) => {
                self.failure += 1;
                item = Some(d);
            }
            Ok(None) => self.illegible += 1,
            Err(e) => {
                self.illegible += 1;
                let mut r = self.report(status);
                r.errors.push(RowError {
                    row: photo as u64,
                    message: format!("book {} could not be read: {e}", self.read),
                });
                return r;
            }
        }
        let mut r = self.report(status);
        if let Some(d) = item {
            r.items.push(self::item(&d));
            match d.work_id.is_some() {
                true => self.books.push(d),
                false => self.suggestions.push(d),
            }
        }
        r
    }

    /// When some found books read as nothing, the last report: the total
    /// becomes the books read, so that it equals matched plus suggested.
    pub fn counted(&mut self) -> Option<ProgressReport> {
        if self.illegible == 0 {
            return None;
        }
        let books = self.success + self.failure;
        let mut r = self.report(format!("Found {books} readable books"));
        r.processed = books;
        r.total = Some(books);
        Some(r)
    }

    /// The job's verdict once every one of its `n` photos is done.
    pub fn verdict(self, n: usize) -> Verdict {
        if self.photos_read == 0 {
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
/// nothing identifies it.
fn item(d: &Detected) -> Item {
    let mut v = serde_json::to_value(d).expect("serialises");
    v["suggestion"] = json!(d.work_id.is_none() && d.isbn.is_none());
    Item {
        work_id: d.work_id.clone(),
        json: v.to_string(),
    }
}
