//! The local catalog: Open Library edition dumps loaded into the embedded
//! database, so that enrichment works offline and without rate limits.

use super::provider::{count_at, str_list, year_at, Metadata, Outcome, Provider, Query};
use crate::pipelines::csv_import::{isbn, title_author_key};
use crate::store::{CatalogEntry, LookupStore};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

pub struct Catalog {
    pub store: Arc<dyn LookupStore>,
}

#[async_trait]
impl Provider for Catalog {
    fn name(&self) -> &'static str {
        "local_catalog"
    }

    async fn lookup(&self, queries: &[&Query]) -> Vec<Outcome> {
        let isbns: Vec<String> = queries.iter().filter_map(|q| q.isbn13()).collect();
        let found = match self.store.catalog_by_isbn(isbns).await {
            Ok(f) => f,
            Err(e) => {
                return queries
                    .iter()
                    .map(|_| Outcome::Unavailable(e.to_string()))
                    .collect()
            }
        };
        let mut out = Vec::with_capacity(queries.len());
        for q in queries {
            let json = match q.isbn13() {
                Some(i) => found.get(&i).cloned(),
                None => {
                    let with_author = title_author_key(&q.title, q.author.as_deref());
                    match self.store.catalog_by_title(with_author).await {
                        Ok(Some(j)) => Some(j),
                        // Dumps name authors by key only: fall back to the title.
                        _ => self
                            .store
                            .catalog_by_title(title_author_key(&q.title, None))
                            .await
                            .ok()
                            .flatten(),
                    }
                }
            };
            out.push(
                match json.and_then(|j| serde_json::from_str::<Metadata>(&j).ok()) {
                    Some(m) => Outcome::Found(Box::new(m)),
                    None => Outcome::NotFound,
                },
            );
        }
        out
    }
}

/// One line of an `ol_dump_editions_*.txt` file (type, key, revision,
/// last modified, JSON): the catalog entries it gives, one per ISBN-13.
pub fn entries_from_dump_line(line: &str) -> Vec<CatalogEntry> {
    let Some(json) = line.split('\t').nth(4) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    let Some(title) = v.get("title").and_then(Value::as_str) else {
        return Vec::new();
    };
    let list = |k: &str| str_list(&v, k);
    let mut isbn13s: Vec<String> = list("isbn_13")
        .iter()
        .filter_map(|i| isbn::parse_isbn13(i))
        .collect();
    isbn13s.extend(
        list("isbn_10")
            .iter()
            .filter_map(|i| isbn::parse_isbn10(i))
            .map(|t| isbn::isbn10_to_13(&t)),
    );
    isbn13s.sort();
    isbn13s.dedup();
    let full_title = match v.get("subtitle").and_then(Value::as_str) {
        Some(sub) => format!("{title}: {sub}"),
        None => title.to_string(),
    };
    isbn13s
        .iter()
        .map(|i13| {
            let m = Metadata {
                title: full_title.clone(),
                authors: Vec::new(),
                isbn13: Some(i13.clone()),
                publisher: list("publishers").into_iter().next(),
                year: year_at(&v, "publish_date"),
                pages: count_at(&v, "number_of_pages"),
                cover_url: v
                    .get("covers")
                    .and_then(Value::as_array)
                    .and_then(|c| c.iter().find_map(Value::as_i64))
                    .filter(|c| *c > 0)
                    .map(|c| format!("https://covers.openlibrary.org/b/id/{c}-L.jpg")),
                subjects: list("subjects"),
                description: v
                    .get("description")
                    .and_then(|d| {
                        d.as_str()
                            .or_else(|| d.get("value").and_then(Value::as_str))
                    })
                    .map(str::to_string),
            };
            CatalogEntry {
                isbn13: i13.clone(),
                title_key: title_author_key(title, None),
                json: serde_json::to_string(&m).expect("metadata serialises"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_dump_line() {
        let line = "/type/edition\t/books/OL1M\t3\t2026-01-03T07:51:31\t{\"title\": \"Index\", \"publish_date\": \"December 31, 1996\", \"publishers\": [\"Stationery Office Books\"], \"subjects\": [\"Government\"], \"isbn_10\": [\"0107716836\"], \"isbn_13\": [\"9780107716837\"], \"number_of_pages\": 8}";
        let e = entries_from_dump_line(line);
        assert_eq!(
            e.len(),
            1,
            "ISBN-10 and ISBN-13 of one edition are one entry"
        );
        assert_eq!(e[0].isbn13, "9780107716837");
        let m: Metadata = serde_json::from_str(&e[0].json).unwrap();
        assert_eq!((m.year, m.pages), (Some(1996), Some(8)));
        assert_eq!(m.publisher.as_deref(), Some("Stationery Office Books"));
        assert!(entries_from_dump_line("garbage").is_empty());
    }
}
