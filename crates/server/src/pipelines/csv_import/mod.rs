//! `csv_import`: a library export in, one book record per row out. A row
//! that cannot be imported is a failure with its row number; it never stops
//! the others.

mod goodreads;
pub mod isbn;

pub use goodreads::{Book, Columns};

use super::BuildError;
use crate::job::{JobContext, JobFailure, JobRunner, ProgressReport, Stopped};
use bookstrack_protocol::{ErrorCode, RowError};
use serde_json::{json, Map, Value};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

pub const RUNNER: &str = "csv_import";

/// Most rows between two progress reports; fewer for small files so a
/// viewer still sees about a hundred steps.
const MAX_ROWS_PER_REPORT: u64 = 250;
/// Bytes inspected to tell text from binary.
const SNIFF_BYTES: usize = 8192;

/// What a pre-scan learned about an upload before its job is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanInfo {
    pub format: &'static str,
    pub rows: u64,
}

/// Why an upload is refused before a job starts (400 `CSV_PARSE_ERROR`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not text (binary data in its first bytes)")]
    Binary,
    #[error("the header is not a recognised library export: missing column(s) {0}")]
    UnknownHeader(String),
    #[error("the file has {rows} rows, more than the limit of {limit}")]
    TooManyRows { rows: u64, limit: u64 },
    #[error("the file has a header but no rows")]
    NoRows,
    #[error("unreadable CSV at line {line}: {reason}")]
    Malformed { line: u64, reason: String },
    #[error("could not read the upload: {0}")]
    Io(String),
}

fn reader(path: &Path) -> std::io::Result<csv::Reader<BufReader<File>>> {
    Ok(csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 16, File::open(path)?)))
}

/// Recognises the format and counts the rows, so that a bad file is refused
/// with a reason before any job exists.
pub fn scan(path: &Path, max_rows: u64) -> Result<ScanInfo, ScanError> {
    let io = |e: std::io::Error| ScanError::Io(e.to_string());
    let mut head = vec![0u8; SNIFF_BYTES];
    let mut f = File::open(path).map_err(io)?;
    let n = f.read(&mut head).map_err(io)?;
    head.truncate(n);
    if head.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ScanError::Empty);
    }
    if head.contains(&0) {
        return Err(ScanError::Binary);
    }
    let mut r = reader(path).map_err(io)?;
    let header = r.headers().map_err(|e| malformed(&e))?.clone();
    let cols = Columns::from_header(header.iter());
    if !cols.is_goodreads() {
        return Err(ScanError::UnknownHeader(cols.missing().join(", ")));
    }
    let mut rows = 0u64;
    let mut rec = csv::ByteRecord::new();
    loop {
        match r.read_byte_record(&mut rec) {
            Ok(true) => {
                rows += 1;
                if rows > max_rows {
                    return Err(ScanError::TooManyRows {
                        rows,
                        limit: max_rows,
                    });
                }
            }
            Ok(false) => break,
            Err(e) => return Err(malformed(&e)),
        }
    }
    if rows == 0 {
        return Err(ScanError::NoRows);
    }
    Ok(ScanInfo {
        format: "goodreads",
        rows,
    })
}

fn malformed(e: &csv::Error) -> ScanError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    ScanError::Malformed {
        line,
        reason: e.to_string(),
    }
}

pub struct CsvImport {
    input: PathBuf,
    rows: u64,
}

impl CsvImport {
    pub fn params(info: &ScanInfo) -> Value {
        json!({"runner": RUNNER, "format": info.format, "rows": info.rows})
    }

    pub fn from_params(p: &Value, input: &Path) -> Result<Self, BuildError> {
        Ok(CsvImport {
            input: input.to_path_buf(),
            rows: p
                .get("rows")
                .and_then(Value::as_u64)
                .ok_or_else(|| BuildError::BadParams("rows".into()))?,
        })
    }
}

impl JobRunner for CsvImport {
    fn run(
        self: Box<Self>,
        ctx: &JobContext,
    ) -> Result<Result<Map<String, Value>, JobFailure>, Stopped> {
        let fail = |m: String| Ok(Err(JobFailure::new(ErrorCode::CsvParseError, m)));
        ctx.started(self.rows)?;
        let mut r = match reader(&self.input) {
            Ok(r) => r,
            Err(e) => return fail(format!("could not read the upload: {e}")),
        };
        let cols = match r.headers() {
            Ok(h) => Columns::from_header(h.iter()),
            Err(e) => return fail(e.to_string()),
        };
        let every = (self.rows / 100).clamp(1, MAX_ROWS_PER_REPORT);
        let resume = ctx.resume;
        let (mut success, mut failure) = (resume.success, resume.failure);
        let mut report = ProgressReport::default();
        let mut consumed = 0u64;
        let mut sent = resume.cursor;
        let mut rec = csv::StringRecord::new();
        loop {
            let read = r.read_record(&mut rec);
            if matches!(read, Ok(false)) {
                break;
            }
            consumed += 1;
            if consumed <= resume.cursor {
                continue;
            }
            // Row 1 is the header, as a spreadsheet shows it.
            let row = consumed + 1;
            let outcome = match read {
                Ok(_) => goodreads::book_from_record(&cols, &rec, row),
                Err(e) => Err(format!("unreadable row: {e}")),
            };
            match outcome {
                Ok(book) => {
                    success += 1;
                    report.current_title = Some(book.title.clone());
                    report
                        .items
                        .push(serde_json::to_value(&book).expect("book serialises"));
                }
                Err(message) => {
                    failure += 1;
                    report.errors.push(RowError { row, message });
                }
            }
            if consumed.is_multiple_of(every) {
                self.send(ctx, &mut report, consumed, success, failure)?;
                sent = consumed;
            }
        }
        if consumed != sent {
            self.send(ctx, &mut report, consumed, success, failure)?;
        }
        let mut extras = Map::new();
        extras.insert("format".into(), "goodreads".into());
        Ok(Ok(extras))
    }
}

impl CsvImport {
    fn send(
        &self,
        ctx: &JobContext,
        report: &mut ProgressReport,
        consumed: u64,
        success: u64,
        failure: u64,
    ) -> Result<(), Stopped> {
        let mut r = std::mem::take(report);
        r.processed = consumed;
        r.success = success;
        r.failure = failure;
        r.cursor = consumed;
        r.status = format!("Processed {consumed} of {} rows", self.rows);
        ctx.progress(r)
    }
}
