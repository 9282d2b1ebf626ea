//! Open Library: `/api/books?jscmd=data` for up to 25 ISBNs a request, and
//! `/search.json` (best match only) for books without an ISBN.

use super::provider::{
    count_at, str_list, text_at, title_similarity, year_at, Metadata, Outcome, Provider, Query,
};
use super::upstream::{Fetch, Upstream};
use async_trait::async_trait;
use futures_util::future::join_all;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// ISBNs per `/api/books` request.
pub const BATCH: usize = 25;
/// A search hit is used only from this title similarity up.
pub const MIN_SIMILARITY: f64 = 0.8;

pub struct OpenLibrary {
    pub up: Arc<Upstream>,
    pub base: String,
}

fn strs(v: &Value, key: &str, field: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get(field).and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// An `/api/books?jscmd=data` record.
pub fn from_books_api(v: &Value, isbn13: &str) -> Metadata {
    let cover = v.get("cover");
    Metadata {
        title: text_at(v, "title").unwrap_or_default(),
        authors: strs(v, "authors", "name"),
        isbn13: Some(isbn13.to_string()),
        publisher: strs(v, "publishers", "name").into_iter().next(),
        year: year_at(v, "publish_date"),
        pages: count_at(v, "number_of_pages"),
        cover_url: cover
            .and_then(|c| c.get("large").or_else(|| c.get("medium")))
            .and_then(Value::as_str)
            .map(str::to_string),
        subjects: strs(v, "subjects", "name").into_iter().take(20).collect(),
        description: v
            .get("notes")
            .and_then(|n| {
                n.as_str()
                    .or_else(|| n.get("value").and_then(Value::as_str))
            })
            .map(str::to_string),
    }
}

/// The best `/search.json` hit for `q`, if it is close enough.
pub fn best_search_hit(v: &Value, q: &Query) -> Option<Metadata> {
    let docs = v.get("docs")?.as_array()?;
    let author = q.author.as_deref().map(str::to_lowercase);
    docs.iter()
        .filter_map(|d| {
            let title = d.get("title")?.as_str()?;
            let score = title_similarity(title, &q.title);
            let authors = str_list(d, "author_name");
            let author_ok = author
                .as_ref()
                .is_none_or(|want| authors.iter().any(|a| title_similarity(a, want) >= 0.5));
            (score >= MIN_SIMILARITY && author_ok).then_some((score, d, title, authors))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, d, title, authors)| {
            use crate::pipelines::csv_import::isbn;
            let isbns = str_list(d, "isbn");
            let isbn13 = isbns
                .iter()
                .find_map(|i| isbn::parse_isbn13(i))
                .or_else(|| {
                    isbns
                        .iter()
                        .find_map(|i| isbn::parse_isbn10(i).map(|t| isbn::isbn10_to_13(&t)))
                });
            Metadata {
                title: title.to_string(),
                authors,
                isbn13,
                publisher: str_list(d, "publisher").into_iter().next(),
                year: d
                    .get("first_publish_year")
                    .and_then(Value::as_i64)
                    .map(|y| y as i32),
                pages: count_at(d, "number_of_pages_median"),
                cover_url: d
                    .get("cover_i")
                    .and_then(Value::as_i64)
                    .map(|c| format!("https://covers.openlibrary.org/b/id/{c}-L.jpg")),
                subjects: str_list(d, "subject").into_iter().take(20).collect(),
                description: None,
            }
        })
}

impl OpenLibrary {
    async fn by_isbn(&self, isbns: &[String]) -> HashMap<String, Outcome> {
        let mut out = HashMap::new();
        for chunk in isbns.chunks(BATCH) {
            let keys: Vec<String> = chunk.iter().map(|i| format!("ISBN:{i}")).collect();
            let url = reqwest::Url::parse_with_params(
                &format!("{}/api/books", self.base),
                &[
                    ("bibkeys", keys.join(",").as_str()),
                    ("format", "json"),
                    ("jscmd", "data"),
                ],
            );
            let fetched = match url {
                Ok(u) => self.up.get_json(&u).await,
                Err(e) => Fetch::Unavailable(format!("bad Open Library URL: {e}")),
            };
            for isbn in chunk {
                let o = match &fetched {
                    Fetch::Json(v) => match v.get(format!("ISBN:{isbn}")) {
                        Some(rec) => Outcome::Found(Box::new(from_books_api(rec, isbn))),
                        None => Outcome::NotFound,
                    },
                    Fetch::NotFound => Outcome::NotFound,
                    Fetch::Unavailable(r) => Outcome::Unavailable(r.clone()),
                };
                out.insert(isbn.clone(), o);
            }
        }
        out
    }

    async fn search(&self, q: &Query) -> Outcome {
        let mut params = vec![
            ("title", q.title.as_str()),
            ("limit", "5"),
            ("fields", "key,title,author_name,isbn,publisher,first_publish_year,number_of_pages_median,cover_i,subject"),
        ];
        if let Some(a) = q.author.as_deref() {
            params.push(("author", a));
        }
        let url =
            match reqwest::Url::parse_with_params(&format!("{}/search.json", self.base), &params) {
                Ok(u) => u,
                Err(e) => return Outcome::Unavailable(format!("bad Open Library URL: {e}")),
            };
        match self.up.get_json(&url).await {
            Fetch::Json(v) => match best_search_hit(&v, q) {
                Some(m) => Outcome::Found(Box::new(m)),
                None => Outcome::NotFound,
            },
            Fetch::NotFound => Outcome::NotFound,
            Fetch::Unavailable(r) => Outcome::Unavailable(r),
        }
    }
}

#[async_trait]
impl Provider for OpenLibrary {
    fn name(&self) -> &'static str {
        "open_library"
    }

    async fn lookup(&self, queries: &[&Query]) -> Vec<Outcome> {
        let isbns: Vec<Option<String>> = queries.iter().map(|q| q.isbn13()).collect();
        let mut wanted: Vec<String> = isbns.iter().flatten().cloned().collect();
        wanted.sort();
        wanted.dedup();
        let by_isbn = self.by_isbn(&wanted).await;
        let searches = join_all(
            queries
                .iter()
                .zip(&isbns)
                .filter(|(_, i)| i.is_none())
                .map(|(q, _)| self.search(q)),
        )
        .await;
        let mut searches = searches.into_iter();
        isbns
            .iter()
            .map(|i| match i {
                Some(i) => by_isbn.get(i).cloned().unwrap_or(Outcome::NotFound),
                None => searches.next().unwrap_or(Outcome::NotFound),
            })
            .collect()
    }
}
