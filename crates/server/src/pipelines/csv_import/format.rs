//! Recognising an export from its header: which format, which delimiter,
//! which column holds what. Columns are found by name (case and spacing
//! insensitive), never by position.

use std::borrow::Cow;

/// Stored in a job's spec by the names of [`Format::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Goodreads,
    StoryGraph,
    LibraryThing,
    /// Open Library's reading log: work and edition ids, no titles.
    OpenLibrary,
    /// Any CSV whose headers name a title plus an author or an ISBN.
    Generic,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Goodreads => "goodreads",
            Format::StoryGraph => "storygraph",
            Format::LibraryThing => "librarything",
            Format::OpenLibrary => "openlibrary",
            Format::Generic => "generic",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        [
            Format::Goodreads,
            Format::StoryGraph,
            Format::LibraryThing,
            Format::OpenLibrary,
            Format::Generic,
        ]
        .into_iter()
        .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Columns whose presence identifies the format.
    fn signature(self) -> &'static [&'static str] {
        match self {
            Format::Goodreads => &["book id", "title", "author", "exclusive shelf"],
            Format::StoryGraph => &["title", "authors", "isbn/uid", "read status"],
            Format::LibraryThing => &["book id", "title", "primary author"],
            Format::OpenLibrary => &["work id", "edition id", "bookshelf"],
            Format::Generic => &[],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Title,
    Author,
    AuthorRole,
    Additional,
    AdditionalRoles,
    Contributors,
    Isbn,
    Rating,
    Publisher,
    Binding,
    Pages,
    Year,
    OriginalYear,
    DateRead,
    DatesRead,
    DateStarted,
    DateAdded,
    Status,
    Tags,
    Collections,
    Review,
    Spoiler,
    SourceId,
    ReadCount,
    Owned,
    WorkId,
    EditionId,
}

const FIELDS: usize = Field::EditionId as usize + 1;

/// Header names per field, most specific first. Every format's own names
/// are here, so one table serves all of them and the generic case.
const SYNONYMS: &[(Field, &[&str])] = &[
    (Field::Title, &["title", "book title", "book name", "name"]),
    (
        Field::Author,
        &[
            "author",
            "authors",
            "primary author",
            "author name",
            "writer",
            "by",
        ],
    ),
    (Field::AuthorRole, &["primary author role"]),
    (
        Field::Additional,
        &[
            "additional authors",
            "secondary author",
            "secondary authors",
            "other authors",
        ],
    ),
    (Field::AdditionalRoles, &["secondary author roles"]),
    (Field::Contributors, &["contributors"]),
    (
        Field::Isbn,
        &[
            "isbn13", "isbn-13", "isbn 13", "isbn", "isbn10", "isbn-10", "isbn 10", "isbn/uid",
            "isbns", "ean",
        ],
    ),
    (
        Field::Rating,
        &["my rating", "star rating", "rating", "stars"],
    ),
    (Field::Publisher, &["publisher", "publication"]),
    (Field::Binding, &["binding", "format", "media"]),
    (
        Field::Pages,
        &["number of pages", "page count", "pages", "num pages"],
    ),
    (
        Field::Year,
        &["year published", "publication year", "year", "date"],
    ),
    (Field::OriginalYear, &["original publication year"]),
    (
        Field::DateRead,
        &["date read", "last date read", "read date", "date finished"],
    ),
    (Field::DatesRead, &["dates read"]),
    (Field::DateStarted, &["date started", "started"]),
    (Field::DateAdded, &["date added", "entry date", "added"]),
    (
        Field::Status,
        &[
            "exclusive shelf",
            "read status",
            "status",
            "shelf",
            "bookshelf",
        ],
    ),
    (Field::Tags, &["bookshelves", "tags", "shelves"]),
    (Field::Collections, &["collections"]),
    (Field::Review, &["my review", "review", "notes"]),
    (Field::Spoiler, &["spoiler"]),
    (Field::SourceId, &["book id", "id"]),
    (Field::ReadCount, &["read count"]),
    (Field::Owned, &["owned copies", "owned?", "owned", "copies"]),
    (Field::WorkId, &["work id"]),
    (Field::EditionId, &["edition id"]),
];

pub fn normalise_header(h: &str) -> String {
    h.trim_start_matches('\u{feff}')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A field's bytes as text: UTF-8 when it is, else Windows-1252 (a
/// superset of Latin-1), which is what LibraryThing and old Excel write.
/// Decided per field, since real files mix the two.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(bytes.iter().map(|&b| cp1252(b)).collect()),
    }
}

fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[(b - 0x80) as usize],
        _ => char::from(b),
    }
}

/// Tab-separated when the first line has more tabs than commas.
pub fn sniff_delimiter(head: &[u8]) -> u8 {
    let line = head.split(|b| *b == b'\n').next().unwrap_or(head);
    let tabs = line.iter().filter(|b| **b == b'\t').count();
    let commas = line.iter().filter(|b| **b == b',').count();
    if tabs > commas {
        b'\t'
    } else {
        b','
    }
}

/// Which columns hold which field.
#[derive(Debug, Clone)]
pub struct Layout {
    pub format: Format,
    pub delimiter: u8,
    /// Indexed by `Field as usize`: looked up for every field of every row.
    columns: Vec<Vec<usize>>,
}

impl Layout {
    /// Recognises `header`; `forced` is the upload's `format` field.
    pub fn detect(
        header: &[String],
        delimiter: u8,
        forced: Option<Format>,
    ) -> Result<Layout, String> {
        let names: Vec<String> = header.iter().map(|h| normalise_header(h)).collect();
        let has = |c: &str| names.iter().any(|n| n == c);
        let format = match forced {
            Some(f) => {
                let missing: Vec<&str> =
                    f.signature().iter().copied().filter(|c| !has(c)).collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "the header is not a {} export: missing column(s) {}",
                        f.name(),
                        missing.join(", ")
                    ));
                }
                f
            }
            None => [
                Format::Goodreads,
                Format::StoryGraph,
                Format::LibraryThing,
                Format::OpenLibrary,
            ]
            .into_iter()
            .find(|f| f.signature().iter().all(|c| has(c)))
            .unwrap_or(Format::Generic),
        };
        let mut columns: Vec<Vec<usize>> = vec![Vec::new(); FIELDS];
        for (field, synonyms) in SYNONYMS {
            for syn in *synonyms {
                for (i, n) in names.iter().enumerate() {
                    let cols = &mut columns[*field as usize];
                    if n == syn && !cols.contains(&i) {
                        cols.push(i);
                    }
                }
            }
        }
        let layout = Layout {
            format,
            delimiter,
            columns,
        };
        let usable = format == Format::OpenLibrary
            || (layout.has(Field::Title) && (layout.has(Field::Author) || layout.has(Field::Isbn)));
        if !usable {
            return Err(format!(
                "unrecognised header: expected a Goodreads, StoryGraph or LibraryThing export, \
                 or columns naming a title plus an author or ISBN (found: {})",
                names.join(", ")
            ));
        }
        Ok(layout)
    }

    pub fn has(&self, f: Field) -> bool {
        !self.columns[f as usize].is_empty()
    }

    /// The first column for `f`.
    pub fn column(&self, f: Field) -> Option<usize> {
        self.columns[f as usize].first().copied()
    }

    /// Every column for `f`, most specific first (used for identifiers).
    pub fn columns(&self, f: Field) -> &[usize] {
        &self.columns[f as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str, d: char) -> Vec<String> {
        s.split(d).map(str::to_string).collect()
    }

    #[test]
    fn detects_each_format() {
        let gr = header("Book Id,Title,Author,Author l-f,Additional Authors,ISBN,ISBN13,My Rating,Average Rating,Exclusive Shelf", ',');
        let l = Layout::detect(&gr, b',', None).unwrap();
        assert_eq!(l.format, Format::Goodreads);
        assert_eq!(l.columns(Field::Isbn), &[6, 5], "ISBN13 before ISBN");
        assert_eq!(l.column(Field::Author), Some(2), "not `Author l-f`");
        assert_eq!(l.column(Field::Rating), Some(7), "not `Average Rating`");
        let sg = header(
            "\u{feff}Title,Authors,Contributors,ISBN/UID,Format,Read Status,Star Rating",
            ',',
        );
        assert_eq!(
            Layout::detect(&sg, b',', None).unwrap().format,
            Format::StoryGraph
        );
        let lt = header(
            "Book Id\tTitle\tPrimary Author\tISBN\tISBNs\tCollections",
            '\t',
        );
        let l = Layout::detect(&lt, b'\t', None).unwrap();
        assert_eq!(l.format, Format::LibraryThing);
        assert_eq!(l.columns(Field::Isbn), &[3, 4]);
        let ol = header("Work Id,Edition Id,Bookshelf", ',');
        assert_eq!(
            Layout::detect(&ol, b',', None).unwrap().format,
            Format::OpenLibrary
        );
        let generic = header("  BOOK   Title ,Writer,EAN", ',');
        assert_eq!(
            Layout::detect(&generic, b',', None).unwrap().format,
            Format::Generic
        );
    }

    #[test]
    fn refuses_headers_it_cannot_use() {
        let err = Layout::detect(&header("name,colour", ','), b',', None).unwrap_err();
        assert!(err.contains("unrecognised header"), "{err}");
        let err = Layout::detect(&header("Title,Author", ','), b',', Some(Format::Goodreads))
            .unwrap_err();
        assert!(
            err.contains("missing column(s) book id, exclusive shelf"),
            "{err}"
        );
        assert_eq!(
            Layout::detect(&header("Title,Author", ','), b',', Some(Format::Generic))
                .unwrap()
                .format,
            Format::Generic
        );
    }

    #[test]
    fn decodes_utf8_and_windows_1252() {
        assert_eq!(decode("Cortázar".as_bytes()), "Cortázar");
        assert_eq!(decode(b"Cort\xe1zar \x93quoted\x94"), "Cortázar “quoted”");
    }

    #[test]
    fn sniffs_tabs() {
        assert_eq!(sniff_delimiter(b"a\tb\tc\n1,2"), b'\t');
        assert_eq!(sniff_delimiter(b"a,b,c\n"), b',');
    }
}
