//! Google Books `volumes?q=isbn:…` (or `intitle:`/`inauthor:`); an API key
//! is optional, and sent as `X-Goog-Api-Key` by the upstream's client
//! (`mod.rs`), never in the URL. Quota and rate answers make it
//! unavailable, never fatal.

use super::provider::{
    count_at, str_list, text_at, title_similarity, year_at, Metadata, Outcome, Provider, Query,
};
use super::upstream::{Fetch, Upstream};
use async_trait::async_trait;
use futures_util::future::join_all;
use serde_json::Value;
use std::sync::Arc;

pub struct GoogleBooks {
    pub up: Arc<Upstream>,
    pub base: String,
}

/// The first volume of a `volumes` answer that matches the query.
pub fn best_volume(v: &Value, q: &Query, isbn13: Option<&str>) -> Option<Metadata> {
    let items = v.get("items")?.as_array()?;
    items.iter().find_map(|item| {
        let info = item.get("volumeInfo")?;
        let title = info.get("title")?.as_str()?;
        let ids: Vec<(&str, &str)> = info
            .get("industryIdentifiers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|i| {
                        Some((i.get("type")?.as_str()?, i.get("identifier")?.as_str()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let found13 = ids
            .iter()
            .find(|(t, _)| *t == "ISBN_13")
            .map(|(_, i)| i.to_string());
        let matches = match isbn13 {
            Some(want) => found13.as_deref() == Some(want) || ids.is_empty(),
            None => title_similarity(title, &q.title) >= super::openlibrary::MIN_SIMILARITY,
        };
        let links = info.get("imageLinks");
        matches.then(|| Metadata {
            title: title.to_string(),
            authors: str_list(info, "authors"),
            isbn13: found13.or_else(|| isbn13.map(str::to_string)),
            publisher: text_at(info, "publisher"),
            year: year_at(info, "publishedDate"),
            pages: count_at(info, "pageCount"),
            cover_url: links
                .and_then(|l| l.get("thumbnail").or_else(|| l.get("smallThumbnail")))
                .and_then(Value::as_str)
                .map(|u| u.replacen("http://", "https://", 1)),
            subjects: str_list(info, "categories"),
            description: text_at(info, "description"),
        })
    })
}

impl GoogleBooks {
    async fn one(&self, q: &Query) -> Outcome {
        let isbn13 = q.isbn13();
        let query = match (&isbn13, &q.author) {
            (Some(i), _) => format!("isbn:{i}"),
            (None, Some(a)) => format!("intitle:\"{}\" inauthor:\"{a}\"", q.title),
            (None, None) => format!("intitle:\"{}\"", q.title),
        };
        let params = [("q", query.as_str()), ("maxResults", "5")];
        let url = match reqwest::Url::parse_with_params(&format!("{}/volumes", self.base), &params)
        {
            Ok(u) => u,
            Err(e) => return Outcome::Unavailable(format!("bad Google Books URL: {e}")),
        };
        match self.up.get_json(&url).await {
            Fetch::Json(v) => match best_volume(&v, q, isbn13.as_deref()) {
                Some(m) => Outcome::Found(Box::new(m)),
                None => Outcome::NotFound,
            },
            Fetch::NotFound => Outcome::NotFound,
            Fetch::Unavailable(r) => Outcome::Unavailable(r),
        }
    }
}

#[async_trait]
impl Provider for GoogleBooks {
    fn name(&self) -> &'static str {
        "google_books"
    }

    async fn lookup(&self, queries: &[&Query]) -> Vec<Outcome> {
        join_all(queries.iter().map(|q| self.one(q))).await
    }
}
