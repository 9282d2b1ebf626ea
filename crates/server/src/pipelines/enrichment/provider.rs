//! What every metadata source answers, and how.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One book to enrich, as the client gave it (or as an import stored it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isbn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_id: Option<String>,
}

impl Query {
    /// The ISBN-13 to look up, if the query has a valid ISBN.
    pub fn isbn13(&self) -> Option<String> {
        use crate::pipelines::csv_import::isbn;
        let raw = self.isbn.as_deref()?;
        isbn::parse_isbn13(raw).or_else(|| isbn::parse_isbn10(raw).map(|t| isbn::isbn10_to_13(&t)))
    }

    /// The cache key: the ISBN-13, else the normalised title and author.
    pub fn cache_key(&self) -> String {
        match self.isbn13() {
            Some(i) => format!("isbn:{i}"),
            None => format!(
                "q:{}",
                crate::pipelines::csv_import::title_author_key(&self.title, self.author.as_deref())
            ),
        }
    }
}

/// What enrichment fills in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub title: String,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isbn13: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_url: Option<String>,
    #[serde(default)]
    pub subjects: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Found(Box<Metadata>),
    /// The source answered and does not know the book.
    NotFound,
    /// The source could not answer (rate limit, quota, timeout, offline):
    /// the next source is asked, and nothing is cached.
    Unavailable(String),
}

#[async_trait]
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    /// One outcome per query, in the same order.
    async fn lookup(&self, queries: &[&Query]) -> Vec<Outcome>;
}

/// The strings of the array at `key` (absent or mixed arrays give what is there).
pub fn str_list(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The string at `key`.
pub fn text_at(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The year of the date string at `key`.
pub fn year_at(v: &Value, key: &str) -> Option<i32> {
    v.get(key).and_then(Value::as_str).and_then(year_of)
}

/// The count (pages) at `key`.
pub fn count_at(v: &Value, key: &str) -> Option<u32> {
    v.get(key).and_then(Value::as_u64).map(|p| p as u32)
}

/// The first four-digit number in a publish date (`October 1, 1988`, `2014-02-04`).
pub fn year_of(date: &str) -> Option<i32> {
    date.as_bytes()
        .windows(4)
        .position(|w| w.iter().all(u8::is_ascii_digit))
        .and_then(|i| date[i..i + 4].parse().ok())
}

/// Word-set similarity of two titles in 0–1 (Jaccard over lower-cased words).
pub fn title_similarity(a: &str, b: &str) -> f64 {
    let words = |s: &str| -> std::collections::HashSet<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let (x, y) = (words(a), words(b));
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    x.intersection(&y).count() as f64 / x.union(&y).count() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_and_similarity() {
        assert_eq!(year_of("October 1, 1988"), Some(1988));
        assert_eq!(year_of("2014-02-04"), Some(2014));
        assert_eq!(year_of("n.d."), None);
        assert_eq!(title_similarity("Dune", "dune"), 1.0);
        assert!(title_similarity("The Left Hand of Darkness", "Left Hand of Darkness") >= 0.8);
        assert!(title_similarity("Dune", "Dune Messiah") < 0.8);
    }

    #[test]
    fn keys() {
        let q = Query {
            title: "X".into(),
            isbn: Some("0-14-032872-6".into()),
            ..Default::default()
        };
        assert_eq!(q.cache_key(), "isbn:9780140328721");
        let q = Query {
            title: "The Hobbit".into(),
            author: Some("J.R.R. Tolkien".into()),
            ..Default::default()
        };
        assert_eq!(q.cache_key(), "q:thehobbit|jrrtolkien");
    }
}
