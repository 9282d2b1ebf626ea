//! Asking the providers in order, with the cache in front of them: found
//! answers and definite "not found" answers are cached, so a second run over
//! the same books makes no request; "unavailable" answers are not.

use super::provider::{Metadata, Outcome, Provider, Query};
use crate::store::LookupStore;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cached {
    provider: Option<String>,
    metadata: Option<Metadata>,
}

/// One book's answer: who supplied its metadata, or why nobody could.
pub type Answer = Result<(String, Metadata), String>;

pub struct Enricher {
    pub providers: Vec<Arc<dyn Provider>>,
    pub store: Arc<dyn LookupStore>,
    pub use_cache: bool,
}

impl Enricher {
    pub async fn enrich(&self, queries: &[Query]) -> Vec<Answer> {
        let keys: Vec<String> = queries.iter().map(Query::cache_key).collect();
        let mut answers: Vec<Option<Answer>> = vec![None; queries.len()];
        if self.use_cache {
            if let Ok(hits) = self.store.cache_get(keys.clone()).await {
                for (i, k) in keys.iter().enumerate() {
                    let Some(c) = hits
                        .get(k)
                        .and_then(|j| serde_json::from_str::<Cached>(j).ok())
                    else {
                        continue;
                    };
                    answers[i] = Some(match (c.provider, c.metadata) {
                        (Some(p), Some(m)) => Ok((format!("cache:{p}"), m)),
                        _ => Err("not found by any source (cached answer)".into()),
                    });
                }
            }
        }
        let mut reasons: Vec<Vec<String>> = vec![Vec::new(); queries.len()];
        let mut unavailable = vec![false; queries.len()];
        for p in &self.providers {
            let pending: Vec<usize> = (0..queries.len())
                .filter(|i| answers[*i].is_none())
                .collect();
            if pending.is_empty() {
                break;
            }
            let asked: Vec<&Query> = pending.iter().map(|i| &queries[*i]).collect();
            for (i, o) in pending.into_iter().zip(p.lookup(&asked).await) {
                match o {
                    Outcome::Found(m) => answers[i] = Some(Ok((p.name().to_string(), *m))),
                    Outcome::NotFound => reasons[i].push(format!("{}: not found", p.name())),
                    Outcome::Unavailable(r) => {
                        unavailable[i] = true;
                        reasons[i].push(r);
                    }
                }
            }
        }
        let mut to_cache = Vec::new();
        let out: Vec<Answer> = answers
            .into_iter()
            .enumerate()
            .map(|(i, a)| match a {
                Some(a) => {
                    if let Ok((p, m)) = &a {
                        if !p.starts_with("cache:") && p != "local_catalog" {
                            let c = Cached {
                                provider: Some(p.clone()),
                                metadata: Some(m.clone()),
                            };
                            to_cache.push((
                                keys[i].clone(),
                                serde_json::to_string(&c).expect("serialises"),
                            ));
                        }
                    }
                    a
                }
                None => {
                    if !unavailable[i] && !self.providers.is_empty() {
                        let c = Cached {
                            provider: None,
                            metadata: None,
                        };
                        to_cache.push((
                            keys[i].clone(),
                            serde_json::to_string(&c).expect("serialises"),
                        ));
                    }
                    Err(if reasons[i].is_empty() {
                        "no metadata source is configured".into()
                    } else {
                        reasons[i].join("; ")
                    })
                }
            })
            .collect();
        if self.use_cache && !to_cache.is_empty() {
            if let Err(e) = self.store.cache_put(to_cache).await {
                tracing::warn!(error = %e, "could not cache enrichment answers");
            }
        }
        out
    }
}
