//! Every supported export format, read from fixtures written in its real
//! shape and with its real quirks, mapped to normalised book records; a
//! chosen format and an unclosed quote, through the upload.

use crate::common::*;
use bookstrack_server::pipelines::csv_import::{scan, Book, Format, Parser, ScanError};
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A parsed row: its number and its book, or why it could not be imported.
type Row = (u64, Result<Book, String>);

fn parse(name: &str) -> (Format, Vec<Row>) {
    let mut p = Parser::open(&fixture(name), None).unwrap();
    let format = p.layout().format;
    let mut rows = Vec::new();
    while let Some(r) = p.next_row() {
        rows.push(r);
    }
    (format, rows)
}

fn json(b: &Book) -> Value {
    serde_json::to_value(b).unwrap()
}

#[test]
fn goodreads_legacy_export() {
    let (format, rows) = parse("goodreads_legacy.csv");
    assert_eq!(format, Format::Goodreads);
    assert_eq!(rows.len(), 5);
    let h = rows[0].1.as_ref().unwrap();
    assert_eq!(h.title, "The Histories");
    let s = h.series.as_ref().unwrap();
    assert_eq!(
        (s.name.as_str(), s.number.as_str()),
        ("Landmark Ancient Histories", "3")
    );
    assert_eq!(h.author.as_deref(), Some("Herodotus"));
    let names: Vec<&str> = h.authors.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["Herodotus", "Robert B. Strassler", "Andrea L. Purvis"]
    );
    assert_eq!(h.isbn13.as_deref(), Some("9780375421303"));
    assert_eq!(h.isbn10.as_deref(), Some("0375421300"));
    assert_eq!(h.original_publication_year, Some(-430), "BCE kept negative");
    assert_eq!(json(h)["status"], "did-not-finish", "`abandoned` shelf");
    assert_eq!(h.tags, ["classics", "history"]);
    assert_eq!(h.rating, Some(4.0));
    assert_eq!(
        h.review.as_deref(),
        Some("Dense & rewarding.\n\nCompare The Peloponnesian War Xerxes loses")
    );
    assert!(h.spoiler);
    assert_eq!(h.date_read.as_deref(), Some("2019-03-02"));

    let w = rows[1].1.as_ref().unwrap();
    assert_eq!(
        json(w)["status"],
        "read",
        "custom exclusive shelf with a read date"
    );
    assert_eq!(w.tags, ["owned-to-sell"], "custom shelf kept as a tag");
    assert_eq!(
        (w.isbn13.as_ref(), w.rating),
        (None, None),
        "empty =\"\" and 0 stars"
    );
    assert_eq!(w.review.as_deref(), Some("Line one\nLine two"));
    assert!(!w.spoiler);

    assert_eq!(json(rows[2].1.as_ref().unwrap())["status"], "to-read");
    // Row 5 (same ISBN-13 as row 2) is a valid book; de-duplication is the runner's.
    assert_eq!(rows[3].1.as_ref().unwrap().dedupe_key(), h.dedupe_key());
    assert_eq!(rows[4].0, 6);
    assert!(rows[4].1.as_ref().unwrap_err().contains("title"));
}

#[test]
fn storygraph_export_with_bom_crlf_and_stripped_zeros() {
    let (format, rows) = parse("storygraph.csv");
    assert_eq!(format, Format::StoryGraph);
    let books: Vec<&Book> = rows.iter().map(|r| r.1.as_ref().unwrap()).collect();
    let a = books[0];
    assert_eq!(a.title, "Shelf Life", "BOM stripped, title found");
    let people: Vec<(String, Option<String>)> = a
        .authors
        .iter()
        .map(|p| (p.name.clone(), p.role.clone()))
        .collect();
    assert_eq!(
        people,
        [
            ("Ann Author".into(), None),
            ("Bo Writer".into(), None),
            ("Cy Voice".into(), Some("Narrator".into())),
            ("Di Lang".into(), Some("Translator".into())),
        ]
    );
    assert_eq!(a.rating, Some(4.25), "quarter stars");
    assert_eq!(a.date_started.as_deref(), Some("2021-07-20"));
    assert_eq!(a.date_read.as_deref(), Some("2021-08-02"));
    assert_eq!(a.tags, ["cozy", "library"]);
    assert_eq!(a.owned, Some(true));
    assert_eq!(a.review.as_deref(), Some("Loved it"), "no CR left over");

    let b = books[1];
    assert_eq!(
        b.isbn10.as_deref(),
        Some("0140143505"),
        "leading zero restored"
    );
    assert_eq!(b.isbn13.as_deref(), Some("9780140143508"));
    assert_eq!(json(b)["status"], "did-not-finish");
    assert_eq!(b.date_read, None, "`\"\"` is empty");

    let k = books[2];
    assert_eq!(k.asin.as_deref(), Some("B07MNWKF2M"));
    assert_eq!(
        (k.isbn10.as_ref(), k.isbn13.as_ref()),
        (None, None),
        "an ASIN is not an ISBN"
    );

    let m = books[3];
    assert_eq!(
        (m.isbn10.as_ref(), m.isbn13.as_ref(), m.asin.as_ref()),
        (None, None, None)
    );
    assert_eq!(json(m)["status"], "currently-reading");
}

#[test]
fn spreadsheet_mangled_isbns_are_row_errors_not_guesses() {
    let (format, rows) = parse("storygraph_excel.csv");
    assert_eq!(
        format,
        Format::StoryGraph,
        "truncated columns still recognised"
    );
    assert!(rows[0].1.as_ref().unwrap_err().contains("9.78053E+12"));
    let ok = rows[1].1.as_ref().unwrap();
    assert_eq!(ok.title, "No Number");
    assert_eq!(ok.date_read, None, "M/D/YYYY is ambiguous and not guessed");
    assert!(rows[2].1.is_err());
}

#[test]
fn librarything_tsv_in_windows_1252() {
    let (format, rows) = parse("librarything.tsv");
    assert_eq!(format, Format::LibraryThing);
    let r = rows[0].1.as_ref().unwrap();
    assert_eq!(r.title, "Rayuela");
    assert_eq!(
        r.author.as_deref(),
        Some("Julio Cortázar"),
        "Last, First and cp1252 é"
    );
    assert_eq!(r.authors[0].role.as_deref(), Some("Author"));
    assert_eq!(r.authors[1].name, "Gregory Rabassa");
    assert_eq!(r.authors[1].role.as_deref(), Some("Translator"));
    assert_eq!(
        r.review.as_deref(),
        Some("“chef d’œuvre”"),
        "cp1252 quotes and œ"
    );
    assert_eq!(
        r.isbn10.as_deref(),
        Some("0140143505"),
        "[brackets] stripped"
    );
    assert_eq!(r.isbn13.as_deref(), Some("9780140143508"));
    assert_eq!(r.date_started.as_deref(), Some("2007-04-16"));
    assert_eq!(r.date_read.as_deref(), Some("2007-05-08"));
    assert_eq!(r.date_added.as_deref(), Some("2006-08-09"));
    assert_eq!(r.rating, Some(4.5));
    assert_eq!(r.pages, Some(564));
    assert_eq!(r.publisher.as_deref(), Some("Pantheon"));
    assert_eq!(r.year_published, Some(1966));
    assert_eq!(json(r)["status"], "read");
    assert_eq!(r.tags, ["roman", "expérimental"]);
    assert!(
        r.open_library_work_id.is_none(),
        "LibraryThing's work id is its own"
    );
    let q = rows[1].1.as_ref().unwrap();
    assert_eq!(
        q.title, "The \"Quoted\" Café",
        "quotes are literal in the TSV"
    );
    assert_eq!(json(q)["status"], "currently-reading");
    assert_eq!(q.owned, Some(false));
}

#[test]
fn generic_csv_with_synonym_headers() {
    let (format, rows) = parse("generic.csv");
    assert_eq!(format, Format::Generic);
    let b = rows[0].1.as_ref().unwrap();
    assert_eq!(
        (b.title.as_str(), b.author.as_deref()),
        ("The Plain Book", Some("Jo Plain"))
    );
    assert_eq!(b.isbn13.as_deref(), Some("9780306406157"));
    assert_eq!(b.rating, Some(4.0));
    assert_eq!(json(b)["status"], "read");
    assert_eq!(b.date_read.as_deref(), Some("2024-01-05"));
    assert!(rows[1].1.is_ok(), "a book with no author is still a book");
}

#[test]
fn open_library_reading_log() {
    let (format, rows) = parse("openlibrary.csv");
    assert_eq!(format, Format::OpenLibrary);
    let b = rows[1].1.as_ref().unwrap();
    assert_eq!(b.open_library_work_id.as_deref(), Some("OL361393W"));
    assert_eq!(b.open_library_edition_id.as_deref(), Some("OL7798182M"));
    assert_eq!(json(b)["status"], "to-read");
    assert_eq!(json(rows[2].1.as_ref().unwrap())["status"], "read");
}

fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), bytes).unwrap();
    f
}

#[test]
fn scan_refuses_what_cannot_be_imported() {
    let unterminated = b"Title,Author,ISBN\nA,B,1\n\"Open quote,C,2\nD,E,3\nF,G,4\n";
    match scan(write(unterminated).path(), 100, None) {
        Err(ScanError::Malformed { line, reason }) => {
            assert_eq!(line, 3);
            assert!(reason.contains("never closed"));
        }
        other => panic!("{other:?}"),
    }
    let f = write(b"Title,Author\nA,B\n");
    assert!(matches!(
        scan(f.path(), 100, Some(Format::Goodreads)),
        Err(ScanError::UnknownHeader(m)) if m.contains("not a goodreads export")
    ));
    assert_eq!(scan(f.path(), 1, None).unwrap().rows, 1);
    assert!(matches!(
        scan(f.path(), 0, None),
        Err(ScanError::TooManyRows { rows: 1, limit: 0 })
    ));
    let info = scan(&fixture("librarything.tsv"), 10, None).unwrap();
    assert_eq!(
        (info.format, info.delimiter, info.rows),
        (Format::LibraryThing, b'\t', 2)
    );
}

async fn upload_with_format(srv: &TestServer, bytes: &[u8], format: Option<&str>) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("export.csv");
    let mut form = reqwest::multipart::Form::new();
    if let Some(f) = format {
        form = form.text("format", f.to_string());
    }
    let resp = srv
        .http
        .post(format!("{}/api/import/csv", srv.url))
        .multipart(form.part("file", part))
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_format_field_overrides_detection() {
    let srv = TestServer::start(|_| {}).await;
    let generic = b"Title,Author\nA Book,An Author\n";
    let (s, b) = upload_with_format(&srv, generic, Some("goodreads")).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("CSV_PARSE_ERROR"))
    );
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not a goodreads export"));
    let (s, _) = upload_with_format(&srv, generic, Some("generic")).await;
    assert_eq!(s, 202);
    let (s, b) = upload_with_format(&srv, generic, Some("excel")).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unterminated_quote_is_refused_with_its_line() {
    let srv = TestServer::start(|_| {}).await;
    let csv = "Title,Author,Shelf\nOne,A,read\nTwo,B,read\nThree,C,read\nFour,D,read\n\"Five,E,read\nSix,F,read\n";
    let (s, b) = srv.upload(csv.as_bytes().to_vec()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("CSV_PARSE_ERROR"))
    );
    assert!(
        b["error"]["message"].as_str().unwrap().contains("line 6"),
        "{b}"
    );
    srv.stop().await;
}
