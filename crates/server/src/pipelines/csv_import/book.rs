//! One row of any supported export → one normalised book record.

use super::format::{Field, Format, Layout};
use super::normalise::{self, Person, ReadStatus};
use super::row::Row;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub name: String,
    pub number: String,
}

/// An imported book, as `/api/jobs/{id}/results` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Book {
    /// The row it came from, the header being row 1.
    pub row: u64,
    /// Stable id of the work (same ISBN-13, else same title and author, in
    /// any import): what `/api/enrichment/start` takes as `workIds`.
    pub work_id: String,
    /// Absent only for Open Library reading logs, which carry ids alone.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Series>,
    /// The primary author's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Primary author first, then the others; `role` when the export gives one.
    pub authors: Vec<Person>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isbn13: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isbn10: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ReadStatus>,
    /// Custom shelves, tags and collections.
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year_published: Option<i32>,
    /// Negative for BCE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_publication_year: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_read: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_added: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owned: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub spoiler: bool,
    /// The exporting site's own id for the book.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_library_work_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_library_edition_id: Option<String>,
}

/// `w` and 16 hex digits of the SHA-256 of a de-duplication key.
pub fn work_id_for(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(key.as_bytes());
    format!("w{}", hex::encode(&d[..8]))
}

impl Book {
    /// The key under which two rows of one import are the same book.
    pub fn dedupe_key(&self) -> String {
        match (&self.isbn13, &self.open_library_work_id) {
            (Some(i), _) => format!("isbn:{i}"),
            (None, Some(w)) if self.title.is_empty() => format!("ol:{w}"),
            _ => format!(
                "t:{}",
                normalise::title_author_key(&self.title, self.author.as_deref())
            ),
        }
    }
}

/// Maps one record; `Err` is why the row cannot be imported.
pub fn map_row(layout: &Layout, rec: &csv::ByteRecord, row: u64) -> Result<Book, String> {
    let r = Row { layout, rec };
    let open_library = layout.format == Format::OpenLibrary;
    // Only Open Library's log has Open Library ids (LibraryThing has a
    // `Work id` column of its own).
    let work_id = open_library.then(|| r.string(Field::WorkId)).flatten();
    let (title, series) = r.title(work_id.is_some())?;
    let authors = r.authors();
    let ids = r.identifiers()?;
    let (status, tags) = r.status_and_tags();
    let (date_started, date_read) = r.dates();
    let status = status.or_else(|| r.status_from_dates(date_read.is_some()));
    let (review, spoiler) = r.review();
    let mut book = Book {
        row,
        work_id: String::new(),
        title,
        series: series.map(|(name, number)| Series { name, number }),
        author: authors.first().map(|a| a.name.clone()),
        authors,
        isbn13: ids.isbn13,
        isbn10: ids.isbn10,
        asin: ids.asin,
        status,
        tags,
        rating: r.get(Field::Rating).and_then(|v| normalise::rating(&v)),
        publisher: r.publisher(),
        binding: r.string(Field::Binding),
        pages: r.pages(),
        year_published: r.year_published(),
        original_publication_year: r.get(Field::OriginalYear).and_then(|y| normalise::year(&y)),
        date_started,
        date_read,
        date_added: r.get(Field::DateAdded).and_then(|d| normalise::date(&d)),
        read_count: r.get(Field::ReadCount).and_then(|c| c.parse().ok()),
        owned: r.owned(),
        review,
        spoiler,
        source_id: r.string(Field::SourceId),
        open_library_work_id: work_id,
        open_library_edition_id: open_library.then(|| r.string(Field::EditionId)).flatten(),
    };
    book.work_id = work_id_for(&book.dedupe_key());
    Ok(book)
}
