//! Goodreads library exports: the current 24-column and the legacy
//! 31-column header. Columns are found by name, never by position.

use super::isbn;
use serde::Serialize;
use std::collections::HashMap;

/// Columns a Goodreads export always has; used to recognise one.
const SIGNATURE: [&str; 4] = ["book id", "title", "author", "exclusive shelf"];

#[derive(Debug, Clone)]
pub struct Columns {
    by_name: HashMap<String, usize>,
}

fn normalise(h: &str) -> String {
    h.trim_start_matches('\u{feff}')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl Columns {
    pub fn from_header<'a>(header: impl IntoIterator<Item = &'a str>) -> Columns {
        let mut by_name = HashMap::new();
        for (i, h) in header.into_iter().enumerate() {
            by_name.entry(normalise(h)).or_insert(i);
        }
        Columns { by_name }
    }

    pub fn is_goodreads(&self) -> bool {
        SIGNATURE.iter().all(|c| self.by_name.contains_key(*c))
    }

    pub fn missing(&self) -> Vec<&'static str> {
        SIGNATURE
            .iter()
            .copied()
            .filter(|c| !self.by_name.contains_key(*c))
            .collect()
    }

    fn get<'r>(&self, rec: &'r csv::StringRecord, name: &str) -> Option<&'r str> {
        let v = rec.get(*self.by_name.get(name)?)?.trim();
        (!v.is_empty()).then_some(v)
    }
}

/// One imported book, as the results endpoint returns it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Book {
    pub row: u64,
    pub title: String,
    pub authors: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isbn13: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isbn10: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shelf: Option<String>,
    pub shelves: Vec<String>,
    /// 1–5; Goodreads writes 0 for "not rated".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year_published: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_publication_year: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_read: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_added: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
}

/// `2025/04/08` → `2025-04-08`; anything else is kept out rather than guessed.
fn date(v: Option<&str>) -> Option<String> {
    let v = v?;
    let parts: Vec<&str> = v.split(['/', '-']).collect();
    match parts.as_slice() {
        [y, m, d] if y.len() == 4 && m.len() <= 2 && d.len() <= 2 => {
            let (y, m, d): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
            ((1..=12).contains(&m) && (1..=31).contains(&d))
                .then(|| format!("{y:04}-{m:02}-{d:02}"))
        }
        _ => None,
    }
}

/// Maps one record; `Err` is the reason the row cannot be imported.
pub fn book_from_record(cols: &Columns, rec: &csv::StringRecord, row: u64) -> Result<Book, String> {
    let title = cols
        .get(rec, "title")
        .ok_or_else(|| "the Title column is empty".to_string())?
        .to_string();
    let mut authors: Vec<String> = Vec::new();
    if let Some(a) = cols.get(rec, "author") {
        authors.push(a.to_string());
    }
    if let Some(extra) = cols.get(rec, "additional authors") {
        authors.extend(
            extra
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty() && !authors.iter().any(|x| x == a))
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );
    }
    let isbn10 = cols.get(rec, "isbn").and_then(isbn::parse_isbn10);
    let isbn13 = cols
        .get(rec, "isbn13")
        .and_then(isbn::parse_isbn13)
        .or_else(|| isbn10.as_deref().map(isbn::isbn10_to_13));
    let rating = cols
        .get(rec, "my rating")
        .and_then(|r| r.parse::<f32>().ok())
        .filter(|r| *r > 0.0 && *r <= 5.0)
        .map(|r| r.round() as u8);
    let shelves = cols
        .get(rec, "bookshelves")
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let text = |name: &str| cols.get(rec, name).map(str::to_string);
    let int = |name: &str| cols.get(rec, name).and_then(|v| v.parse::<i32>().ok());
    Ok(Book {
        row,
        title,
        authors,
        isbn13,
        isbn10,
        shelf: text("exclusive shelf"),
        shelves,
        rating,
        publisher: text("publisher"),
        binding: text("binding"),
        pages: cols
            .get(rec, "number of pages")
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|p| *p > 0),
        year_published: int("year published"),
        original_publication_year: int("original publication year"),
        date_read: date(cols.get(rec, "date read")),
        date_added: date(cols.get(rec, "date added")),
        review: text("my review"),
        source_id: text("book id"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Book Id,Title,Author,Author l-f,Additional Authors,ISBN,ISBN13,My Rating,Average Rating,Publisher,Binding,Number of Pages,Year Published,Original Publication Year,Date Read,Date Added,Bookshelves,Bookshelves with positions,Exclusive Shelf,My Review,Spoiler,Private Notes,Read Count,Owned Copies";

    fn parse(row: &str) -> Result<Book, String> {
        let data = format!("{HEADER}\n{row}\n");
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(data.as_bytes());
        let cols = Columns::from_header(r.headers().unwrap().iter());
        assert!(cols.is_goodreads());
        let rec = r.records().next().unwrap().unwrap();
        book_from_record(&cols, &rec, 2)
    }

    #[test]
    fn maps_a_current_format_row() {
        let b = parse(r#"59344991,The Saint of Bright Doors,Vajra Chandrasekera,"Chandrasekera, Vajra","A B, C D","=""1250847397""","=""9781250847393""",3,3.69,Tordotcom,Kindle Edition,368,2023,2023,2025/04/08,2025/02/23,"sf, fav",,read,Great<br/>book,,,1,0"#).unwrap();
        assert_eq!(b.title, "The Saint of Bright Doors");
        assert_eq!(b.authors, vec!["Vajra Chandrasekera", "A B", "C D"]);
        assert_eq!(b.isbn13.as_deref(), Some("9781250847393"));
        assert_eq!(b.isbn10.as_deref(), Some("1250847397"));
        assert_eq!(b.rating, Some(3));
        assert_eq!(b.shelf.as_deref(), Some("read"));
        assert_eq!(b.shelves, vec!["sf", "fav"]);
        assert_eq!(b.date_read.as_deref(), Some("2025-04-08"));
        assert_eq!(b.pages, Some(368));
    }

    #[test]
    fn empty_isbns_and_zero_rating_are_absent() {
        let b = parse(r#"25817087,"Constitution (Legacy Fleet Trilogy, #1)",Nick Webb,"Webb, Nick",,"=""""","=""""",0,4.00,Amazon,Kindle Edition,323,2015,2015,,2025/04/08,currently-reading,,currently-reading,,,,1,0"#).unwrap();
        assert_eq!(b.isbn13, None);
        assert_eq!(b.rating, None);
        assert_eq!(b.date_read, None);
    }

    #[test]
    fn missing_title_is_a_row_error() {
        assert!(parse(r#"1,,Someone,,,,,0,0,,,,,,,,,,read,,,,1,0"#).is_err());
    }

    #[test]
    fn negative_years_are_kept() {
        let b = parse(r#"1,The Histories,Herodotus,,,,,0,0,,,,1998,-430,,,,,read,,,,1,0"#).unwrap();
        assert_eq!(b.original_publication_year, Some(-430));
    }
}
