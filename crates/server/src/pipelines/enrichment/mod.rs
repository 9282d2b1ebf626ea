//! `batch_enrichment`: metadata (ISBN-13, publisher, year, pages, cover,
//! subjects, description) for many books from a chain of sources: cache →
//! local catalog → Open Library → Google Books (order configurable).

pub mod catalog;
pub mod chain;
pub mod google;
pub mod limiter;
pub mod openlibrary;
pub mod provider;
pub mod upstream;
pub mod works;

pub use chain::Enricher;
pub use provider::{Metadata, Query};

use super::BuildError;
use crate::config::EnrichConfig;
use crate::job::{JobContext, JobRunner, ProgressReport, Run, Stopped, Verdict};
use crate::store::{Item, LookupStore};
use bookstrack_protocol::RowError;
use serde_json::{json, Map};
use std::collections::BTreeMap;
use std::sync::Arc;
use upstream::{Upstream, UpstreamConfig};

/// Builds the provider chain `config` names, in its order.
pub fn enricher(config: &EnrichConfig, store: Arc<dyn LookupStore>) -> Result<Enricher, String> {
    let ua = format!(
        "bookstrack/{} ({})",
        env!("CARGO_PKG_VERSION"),
        config.contact
    );
    let upstream = |name, per_second, headers| {
        Arc::new(Upstream::new(UpstreamConfig {
            name,
            per_second,
            timeout: config.timeout,
            retries: config.retries,
            max_in_flight: config.max_in_flight,
            user_agent: ua.clone(),
            max_body_bytes: config.max_upstream_bytes,
            headers,
        }))
    };
    // The key in a header, not the URL: URLs end up in logs and proxies.
    let mut google_headers = reqwest::header::HeaderMap::new();
    if let Some(k) = &config.google_books_api_key {
        let mut v = reqwest::header::HeaderValue::from_str(k)
            .map_err(|_| "the Google Books API key is not a valid header value".to_string())?;
        v.set_sensitive(true);
        google_headers.insert("x-goog-api-key", v);
    }
    let mut providers: Vec<Arc<dyn provider::Provider>> = Vec::new();
    let mut use_cache = false;
    for p in &config.providers {
        match p.as_str() {
            "cache" => use_cache = true,
            "catalog" => providers.push(Arc::new(catalog::Catalog { store: store.clone() })),
            "openlibrary" if !config.offline => providers.push(Arc::new(openlibrary::OpenLibrary {
                up: upstream("open_library", config.openlibrary_rate, Default::default()),
                base: config.openlibrary_url.trim_end_matches('/').to_string(),
            })),
            "googlebooks" if !config.offline => providers.push(Arc::new(google::GoogleBooks {
                up: upstream("google_books", config.google_books_rate, google_headers.clone()),
                base: config.google_books_url.trim_end_matches('/').to_string(),
            })),
            "openlibrary" | "googlebooks" => {}
            other => {
                return Err(format!(
                    "unknown enrichment provider {other:?}: use cache, catalog, openlibrary, googlebooks"
                ))
            }
        }
    }
    Ok(Enricher {
        providers,
        store,
        use_cache,
    })
}

pub struct Enrichment {
    books: Vec<Query>,
    enricher: Arc<Enricher>,
    lane: limiter::Lane,
    runtime: tokio::runtime::Handle,
}

/// The books to enrich, resolved when the job starts (work ids already
/// looked up), so a restart needs nothing else.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EnrichmentSpec {
    pub books: Vec<Query>,
    /// The address that started it: its share of the providers' rate is
    /// that client's (`limiter.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<std::net::IpAddr>,
}

/// Each enrichment runner's lane in the providers' queues.
static NEXT_LANE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Enrichment {
    pub fn build(spec: EnrichmentSpec, enricher: Arc<Enricher>) -> Result<Self, BuildError> {
        let books = spec.books;
        let lane = limiter::Lane {
            client: spec.client,
            job: NEXT_LANE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        };
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| BuildError::BadParams("no async runtime".into()))?;
        Ok(Enrichment {
            books,
            enricher,
            lane,
            runtime,
        })
    }
}

impl JobRunner for Enrichment {
    fn start(self: Box<Self>, ctx: JobContext) -> Run {
        Run::Blocking(Box::new(move || self.run(&ctx)))
    }
}

impl Enrichment {
    fn run(self, ctx: &JobContext) -> Result<Verdict, Stopped> {
        let total = self.books.len() as u64;
        ctx.started(total)?;
        let (mut success, mut failure) = (ctx.resume.success, ctx.resume.failure);
        let mut sources: BTreeMap<String, u64> = BTreeMap::new();
        let start = ctx.resume.cursor as usize;
        for (c, chunk) in self.books[start.min(self.books.len())..]
            .chunks(openlibrary::BATCH)
            .enumerate()
        {
            let first = start + c * openlibrary::BATCH;
            let lookups = limiter::LANE.scope(self.lane, self.enricher.enrich(chunk));
            let answers = self.runtime.block_on(lookups);
            for (k, (q, a)) in chunk.iter().zip(answers).enumerate() {
                let index = first + k;
                let mut report = ProgressReport {
                    status: format!("Enriching: {}", q.title),
                    current_title: Some(q.title.clone()),
                    ..Default::default()
                };
                match a {
                    Ok((provider, metadata)) => {
                        success += 1;
                        *sources.entry(provider.clone()).or_default() += 1;
                        let item = json!({
                            "index": index, "workId": q.work_id, "query": q,
                            "provider": provider, "metadata": metadata,
                        });
                        report.items.push(Item {
                            work_id: q.work_id.clone(),
                            json: item.to_string(),
                        });
                    }
                    Err(reason) => {
                        failure += 1;
                        report.errors.push(RowError {
                            row: index as u64 + 1,
                            message: format!("{}: {reason}", q.title),
                        });
                    }
                }
                report.processed = index as u64 + 1;
                report.cursor = report.processed;
                report.success = success;
                report.failure = failure;
                ctx.progress(report)?;
            }
        }
        let mut extras = Map::new();
        extras.insert("sources".into(), json!(sources));
        Ok(Ok(extras))
    }
}
