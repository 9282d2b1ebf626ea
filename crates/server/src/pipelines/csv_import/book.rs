//! One row of any supported export → one normalised book record.

use super::format::{decode, Field, Format, Layout};
use super::isbn::{self, Identifier};
use super::normalise::{self, Person, ReadStatus};
use serde::Serialize;
use std::borrow::Cow;

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

struct Row<'a> {
    layout: &'a Layout,
    rec: &'a csv::ByteRecord,
}

impl<'a> Row<'a> {
    /// A trimmed, non-empty field, borrowed unless it had to be decoded.
    fn text_at(&self, i: usize) -> Option<Cow<'a, str>> {
        let keep = |t: &str| !t.is_empty() && t != "\"\"";
        match decode(self.rec.get(i)?) {
            Cow::Borrowed(s) => Some(Cow::Borrowed(s.trim())).filter(|t| keep(t)),
            Cow::Owned(s) => Some(Cow::Owned(s.trim().to_string())).filter(|t| keep(t)),
        }
    }

    fn get(&self, f: Field) -> Option<Cow<'a, str>> {
        self.text_at(self.layout.column(f)?)
    }

    fn string(&self, f: Field) -> Option<String> {
        self.get(f).map(Cow::into_owned)
    }
}

fn split_list(raw: &str) -> impl Iterator<Item = String> + '_ {
    raw.split([',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Maps one record; `Err` is why the row cannot be imported.
pub fn map_row(layout: &Layout, rec: &csv::ByteRecord, row: u64) -> Result<Book, String> {
    let r = Row { layout, rec };
    let fmt = layout.format;
    // Only Open Library's log has Open Library ids (LibraryThing has a
    // `Work id` column of its own).
    let work_id = (fmt == Format::OpenLibrary)
        .then(|| r.string(Field::WorkId))
        .flatten();
    let (title, series) = match (r.get(Field::Title), fmt) {
        (Some(t), _) => normalise::split_series(&t),
        (None, Format::OpenLibrary) if work_id.is_some() => (String::new(), None),
        (None, Format::OpenLibrary) => return Err("the Work Id is empty".into()),
        (None, _) => return Err("the title is empty".into()),
    };

    let mut authors: Vec<Person> = Vec::new();
    let push = |p: Person, authors: &mut Vec<Person>| {
        if !p.name.is_empty() && !authors.iter().any(|a| a.name == p.name) {
            authors.push(p);
        }
    };
    match fmt {
        Format::LibraryThing => {
            if let Some(a) = r.get(Field::Author) {
                let role = r.string(Field::AuthorRole);
                push(
                    Person {
                        name: normalise::first_last(&a),
                        role,
                    },
                    &mut authors,
                );
            }
            let roles: Vec<String> = r
                .get(Field::AdditionalRoles)
                .map(|s| s.split(['|', ';']).map(|x| x.trim().to_string()).collect())
                .unwrap_or_default();
            if let Some(more) = r.get(Field::Additional) {
                for (i, a) in more.split(['|', ';']).enumerate() {
                    let role = roles.get(i).filter(|r| !r.is_empty()).cloned();
                    push(
                        Person {
                            name: normalise::first_last(a),
                            role,
                        },
                        &mut authors,
                    );
                }
            }
        }
        _ => {
            for f in [Field::Author, Field::Additional, Field::Contributors] {
                if let Some(v) = r.get(f) {
                    for p in normalise::people(&v) {
                        push(p, &mut authors);
                    }
                }
            }
        }
    }

    let (mut isbn13, mut isbn10, mut asin) = (None, None, None);
    for &col in layout.columns(Field::Isbn) {
        let Some(v) = r.text_at(col) else { continue };
        for part in v.split(',') {
            let part = part.trim().trim_start_matches('[').trim_end_matches(']');
            match isbn::classify(part, fmt == Format::StoryGraph) {
                Identifier::Mangled(m) => {
                    return Err(format!(
                        "the ISBN {m:?} was turned into a rounded number by a spreadsheet; \
                         its digits are lost (re-export the file without opening it in a spreadsheet)"
                    ))
                }
                Identifier::Isbn13(i) => {
                    isbn13.get_or_insert(i);
                }
                Identifier::Isbn10 { isbn10: ten, isbn13: thirteen } => {
                    isbn10.get_or_insert(ten);
                    isbn13.get_or_insert(thirteen);
                }
                Identifier::Asin(a) => {
                    asin.get_or_insert(a);
                }
                Identifier::None => {}
            }
        }
    }
    if isbn10.is_none() {
        isbn10 = isbn13.as_deref().and_then(isbn::isbn13_to_10);
    }

    let mut tags: Vec<String> = Vec::new();
    let mut status = None;
    if let Some(s) = r.get(Field::Status) {
        status = normalise::status(&s);
        if status.is_none() {
            tags.push(s.into_owned());
        }
    }
    for f in [Field::Tags, Field::Collections] {
        for t in r
            .get(f)
            .iter()
            .flat_map(|v| split_list(v).collect::<Vec<_>>())
        {
            match normalise::status(&t) {
                Some(st) => {
                    status.get_or_insert(st);
                }
                None if t != "Your library" && !tags.contains(&t) => tags.push(t),
                None => {}
            }
        }
    }

    let (mut date_started, mut date_read) = (
        r.get(Field::DateStarted).and_then(|d| normalise::date(&d)),
        r.get(Field::DateRead).and_then(|d| normalise::date(&d)),
    );
    if let Some(range) = r.get(Field::DatesRead) {
        let (s, e) = normalise::date_range(&range);
        date_started = date_started.or(s);
        date_read = date_read.or(e);
    }
    if status.is_none() && !matches!(fmt, Format::LibraryThing | Format::OpenLibrary) {
        // A custom exclusive shelf says nothing of progress; the dates do.
        status = Some(if date_read.is_some() {
            ReadStatus::Read
        } else {
            ReadStatus::ToRead
        });
    }
    if status.is_none() && date_read.is_some() {
        status = Some(ReadStatus::Read);
    }

    let (review, tagged_spoiler) = match r.get(Field::Review) {
        Some(v) => {
            let (t, s) = normalise::review(&v);
            ((!t.is_empty()).then_some(t), s)
        }
        None => (None, false),
    };
    let spoiler = tagged_spoiler
        || r.get(Field::Spoiler)
            .is_some_and(|s| s.eq_ignore_ascii_case("true"));

    let publisher = r.get(Field::Publisher).map(|p| match fmt {
        // LibraryThing: `Gallimard (1979), Poche`.
        Format::LibraryThing => p.split(" (").next().unwrap_or(&p).trim().to_string(),
        _ => p.into_owned(),
    });
    let year_published = r.get(Field::Year).and_then(|y| {
        normalise::year(y.get(..4.min(y.len())).unwrap_or(&y)).or_else(|| normalise::year(&y))
    });
    let owned = r
        .get(Field::Owned)
        .map(|o| match o.to_lowercase().as_str() {
            "yes" | "true" => true,
            other => other.parse::<u32>().is_ok_and(|n| n > 0),
        });

    let mut book = Book {
        row,
        work_id: String::new(),
        title,
        series: series.map(|(name, number)| Series { name, number }),
        author: authors.first().map(|a| a.name.clone()),
        authors,
        isbn13,
        isbn10,
        asin,
        status,
        tags,
        rating: r.get(Field::Rating).and_then(|v| normalise::rating(&v)),
        publisher,
        binding: r.string(Field::Binding),
        pages: r
            .get(Field::Pages)
            .and_then(|p| {
                p.trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse()
                    .ok()
            })
            .filter(|p| *p > 0),
        year_published,
        original_publication_year: r.get(Field::OriginalYear).and_then(|y| normalise::year(&y)),
        date_started,
        date_read,
        date_added: r.get(Field::DateAdded).and_then(|d| normalise::date(&d)),
        read_count: r.get(Field::ReadCount).and_then(|c| c.parse().ok()),
        owned,
        review,
        spoiler,
        source_id: r.string(Field::SourceId),
        open_library_work_id: work_id,
        open_library_edition_id: (fmt == Format::OpenLibrary)
            .then(|| r.string(Field::EditionId))
            .flatten(),
    };
    book.work_id = work_id_for(&book.dedupe_key());
    Ok(book)
}
