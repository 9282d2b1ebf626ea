//! `csv_import`: a library export in, one normalised book per row out.
//! A row that cannot be imported is a failure with its row number; it never
//! stops the others. The file is streamed from its spool on disk, so memory
//! stays flat whatever its size.

mod book;
mod format;
pub mod isbn;
mod normalise;
mod row;

pub use book::{map_row, work_id_for, Book};
pub use format::{Format, Layout};
pub use normalise::title_author_key;

use super::BuildError;
use crate::job::{JobContext, JobFailure, JobRunner, ProgressReport, Run, Stopped, Verdict};
use crate::store::Item;
use bookstrack_protocol::{ErrorCode, RowError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map};
use std::collections::hash_map::{Entry, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Most rows between two progress reports; fewer for small files so a
/// viewer still sees about a hundred steps.
const MAX_ROWS_PER_REPORT: u64 = 250;
/// Bytes inspected to tell text from binary and to pick the delimiter.
const SNIFF_BYTES: usize = 8192;

/// What a pre-scan learned about an upload before its job is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanInfo {
    pub format: Format,
    pub delimiter: u8,
    pub rows: u64,
}

/// Why an upload is refused before a job starts (400 `CSV_PARSE_ERROR`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not text (binary data in its first bytes)")]
    Binary,
    #[error("{0}")]
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

fn io(e: std::io::Error) -> ScanError {
    ScanError::Io(e.to_string())
}

/// Reads an export record by record, mapping each to a book.
pub struct Parser {
    layout: Layout,
    reader: csv::Reader<BufReader<File>>,
    rec: csv::ByteRecord,
    header: Vec<String>,
    header_len: usize,
    /// A row with a longer field is a row error (`--max-csv-field-bytes`).
    max_field_bytes: usize,
    consumed: u64,
    done: bool,
}

impl Parser {
    /// Opens `path`, recognising its delimiter and format (`forced` wins).
    pub fn open(path: &Path, forced: Option<Format>) -> Result<Parser, ScanError> {
        let mut head = vec![0u8; SNIFF_BYTES];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(io)?;
        head.truncate(n);
        if head.iter().all(u8::is_ascii_whitespace) {
            return Err(ScanError::Empty);
        }
        if head.contains(&0) {
            return Err(ScanError::Binary);
        }
        let delimiter = format::sniff_delimiter(&head);
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .delimiter(delimiter)
            // LibraryThing's TSV does not quote; a `"` there is just a character.
            .quoting(delimiter != b'\t')
            .from_reader(BufReader::with_capacity(
                1 << 16,
                File::open(path).map_err(io)?,
            ));
        let header: Vec<String> = reader
            .byte_headers()
            .map_err(|e| malformed(&e))?
            .iter()
            .map(|h| format::decode(h).into_owned())
            .collect();
        let layout =
            Layout::detect(&header, delimiter, forced).map_err(ScanError::UnknownHeader)?;
        Ok(Parser {
            layout,
            reader,
            rec: csv::ByteRecord::new(),
            header_len: header.len(),
            header,
            max_field_bytes: crate::config::DEFAULT_MAX_CSV_FIELD_BYTES,
            consumed: 0,
            done: false,
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Rows with a field longer than `max` bytes become row errors.
    pub fn with_max_field_bytes(mut self, max: usize) -> Parser {
        self.max_field_bytes = max;
        self
    }

    /// Why the record just read is refused for a field's length, if it is.
    fn oversized(&self) -> Option<String> {
        let max = self.max_field_bytes;
        let (i, f) = self.rec.iter().enumerate().find(|(_, f)| f.len() > max)?;
        let name = self
            .header
            .get(i)
            .map_or(String::new(), |h| format!(" ({h:?})"));
        Some(format!(
            "column {}{name} is {} bytes, more than the limit of {max} bytes per field",
            i + 1,
            f.len()
        ))
    }

    /// The next row: its number (the header is row 1) and its book or why not.
    pub fn next_row(&mut self) -> Option<(u64, Result<Book, String>)> {
        if self.done {
            return None;
        }
        match self.reader.read_byte_record(&mut self.rec) {
            Ok(false) => None,
            Ok(true) => {
                self.consumed += 1;
                let row = self.consumed + 1;
                if let Some(why) = self.oversized() {
                    return Some((row, Err(why)));
                }
                Some((row, map_row(&self.layout, &self.rec, row)))
            }
            Err(e) => {
                self.consumed += 1;
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    self.done = true;
                }
                Some((self.consumed + 1, Err(format!("unreadable row: {e}"))))
            }
        }
    }

    /// Counts the rows without mapping them, refusing over `max_rows` and a
    /// quoted field that is never closed (the csv reader would otherwise
    /// swallow the rest of the file into it).
    fn count(&mut self, max_rows: u64) -> Result<u64, ScanError> {
        let mut rows = 0u64;
        let mut unclosed: Option<u64> = None;
        loop {
            match self.reader.read_byte_record(&mut self.rec) {
                Ok(true) => {
                    rows += 1;
                    if rows > max_rows {
                        return Err(ScanError::TooManyRows {
                            rows,
                            limit: max_rows,
                        });
                    }
                    // A record that runs over several lines yet has fewer
                    // fields than the header is a quote that swallowed rows.
                    if unclosed.is_none()
                        && self.rec.len() < self.header_len
                        && self.rec.iter().any(|f| f.contains(&b'\n'))
                    {
                        unclosed = Some(self.rec.position().map_or(0, csv::Position::line));
                    }
                }
                Ok(false) => break,
                Err(e) => return Err(malformed(&e)),
            }
        }
        if let Some(line) = unclosed {
            return Err(ScanError::Malformed {
                line,
                reason: "a quoted field opened here is never closed".into(),
            });
        }
        Ok(rows)
    }
}

fn malformed(e: &csv::Error) -> ScanError {
    ScanError::Malformed {
        line: e.position().map(csv::Position::line).unwrap_or(0),
        reason: e.to_string(),
    }
}

/// Recognises the format and counts the rows, so that a bad file is refused
/// with a reason before any job exists.
pub fn scan(path: &Path, max_rows: u64, forced: Option<Format>) -> Result<ScanInfo, ScanError> {
    let mut p = Parser::open(path, forced)?;
    let rows = p.count(max_rows)?;
    if rows == 0 {
        return Err(ScanError::NoRows);
    }
    Ok(ScanInfo {
        format: p.layout.format,
        delimiter: p.layout.delimiter,
        rows,
    })
}

/// What an import job stores to be rebuilt after a restart: the format the
/// pre-scan recognised and the rows it counted (the progress bar's total).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvImportSpec {
    pub format: Format,
    pub rows: u64,
}

impl From<&ScanInfo> for CsvImportSpec {
    fn from(info: &ScanInfo) -> Self {
        CsvImportSpec {
            format: info.format,
            rows: info.rows,
        }
    }
}

pub struct CsvImport {
    input: PathBuf,
    rows: u64,
    format: Format,
    max_field_bytes: usize,
}

impl CsvImport {
    /// The upload must still be in the spool.
    pub fn build(
        spec: CsvImportSpec,
        input: Option<&Path>,
        max_field_bytes: usize,
    ) -> Result<Self, BuildError> {
        let input = input
            .filter(|p| p.exists())
            .ok_or(BuildError::InputMissing)?;
        Ok(CsvImport {
            input: input.to_path_buf(),
            rows: spec.rows,
            format: spec.format,
            max_field_bytes,
        })
    }
}

impl JobRunner for CsvImport {
    fn start(self: Box<Self>, ctx: JobContext) -> Run {
        Run::Blocking(Box::new(move || self.run(&ctx)))
    }
}

impl CsvImport {
    fn run(self, ctx: &JobContext) -> Result<Verdict, Stopped> {
        ctx.started(self.rows)?;
        let mut parser = match Parser::open(&self.input, Some(self.format)) {
            Ok(p) => p.with_max_field_bytes(self.max_field_bytes),
            Err(e) => {
                return Ok(Err(JobFailure::new(
                    ErrorCode::CsvParseError,
                    e.to_string(),
                )))
            }
        };
        let every = (self.rows / 100).clamp(1, MAX_ROWS_PER_REPORT);
        let resume = ctx.resume;
        let (mut success, mut failure, mut duplicates) = (resume.success, resume.failure, 0u64);
        // First row of each distinct book; rebuilt from the rows before the
        // cursor on resume, so duplicates are still found across a restart.
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut report = ProgressReport::default();
        let (mut consumed, mut sent) = (0u64, resume.cursor);
        while let Some((row, outcome)) = parser.next_row() {
            consumed = row - 1;
            let replaying = consumed <= resume.cursor;
            match outcome {
                Ok(book) => match seen.entry(book.dedupe_key()) {
                    Entry::Occupied(first) => {
                        duplicates += 1;
                        if !replaying {
                            success += 1;
                            let note = json!({
                                "row": row, "duplicateOfRow": *first.get(),
                                "title": book.title, "workId": book.work_id,
                            });
                            report.items.push(Item::new(note.to_string()));
                        }
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(row);
                        if !replaying {
                            success += 1;
                            report.current_title = Some(book.title.clone());
                            report.items.push(Item {
                                json: serde_json::to_string(&book).expect("book serialises"),
                                work_id: Some(book.work_id),
                            });
                        }
                    }
                },
                Err(message) if !replaying => {
                    failure += 1;
                    report.errors.push(RowError { row, message });
                }
                Err(_) => {}
            }
            if !replaying && consumed.is_multiple_of(every) {
                self.send(ctx, &mut report, consumed, success, failure)?;
                sent = consumed;
            }
        }
        if consumed != sent {
            self.send(ctx, &mut report, consumed, success, failure)?;
        }
        let mut extras = Map::new();
        extras.insert("format".into(), self.format.name().into());
        extras.insert("duplicates".into(), duplicates.into());
        extras.insert("uniqueBooks".into(), (seen.len() as u64).into());
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
