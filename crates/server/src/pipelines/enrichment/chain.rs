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

/// Why a book got no answer from the providers asked.
#[derive(Debug, Clone, Default)]
struct Miss {
    reasons: Vec<String>,
    /// A source could not be asked: the "not found" is not definite.
    unavailable: bool,
}

impl Enricher {
    pub async fn enrich(&self, queries: &[Query]) -> Vec<Answer> {
        let keys: Vec<String> = queries.iter().map(Query::cache_key).collect();
        let mut answers = self.cached(&keys).await;
        let misses = self.ask_providers(queries, &mut answers).await;
        let (out, to_cache) = self.settle(answers, misses, &keys);
        if self.use_cache && !to_cache.is_empty() {
            if let Err(e) = self.store.cache_put(to_cache).await {
                tracing::warn!(error = %e, "could not cache enrichment answers");
            }
        }
        out
    }

    /// The cached answers, `None` where the cache has none (or is off).
    async fn cached(&self, keys: &[String]) -> Vec<Option<Answer>> {
        let mut answers: Vec<Option<Answer>> = vec![None; keys.len()];
        if !self.use_cache {
            return answers;
        }
        let Ok(hits) = self.store.cache_get(keys.to_vec()).await else {
            return answers;
        };
        for (answer, k) in answers.iter_mut().zip(keys) {
            let Some(c) = hits
                .get(k)
                .and_then(|j| serde_json::from_str::<Cached>(j).ok())
            else {
                continue;
            };
            *answer = Some(match (c.provider, c.metadata) {
                (Some(p), Some(m)) => Ok((format!("cache:{p}"), m)),
                _ => Err("not found by any source (cached answer)".into()),
            });
        }
        answers
    }

    /// Asks each provider in turn for the books still without an answer.
    async fn ask_providers(&self, queries: &[Query], answers: &mut [Option<Answer>]) -> Vec<Miss> {
        let mut misses = vec![Miss::default(); queries.len()];
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
                    Outcome::NotFound => misses[i].reasons.push(format!("{}: not found", p.name())),
                    Outcome::Unavailable(r) => {
                        misses[i].unavailable = true;
                        misses[i].reasons.push(r);
                    }
                }
            }
        }
        misses
    }

    /// Each book's answer, and what to cache: answers found by a provider,
    /// and a definite "not found" (every source was asked and answered).
    fn settle(
        &self,
        answers: Vec<Option<Answer>>,
        misses: Vec<Miss>,
        keys: &[String],
    ) -> (Vec<Answer>, Vec<(String, String)>) {
        let mut to_cache = Vec::new();
        let mut cache = |key: &str, provider: Option<String>, metadata: Option<Metadata>| {
            let c = Cached { provider, metadata };
            to_cache.push((
                key.to_string(),
                serde_json::to_string(&c).expect("serialises"),
            ));
        };
        let out: Vec<Answer> = answers
            .into_iter()
            .zip(misses)
            .zip(keys)
            .map(|((a, miss), key)| match a {
                Some(a) => {
                    if let Ok((p, m)) = &a {
                        if !p.starts_with("cache:") && p != "local_catalog" {
                            cache(key, Some(p.clone()), Some(m.clone()));
                        }
                    }
                    a
                }
                None => {
                    if !miss.unavailable && !self.providers.is_empty() {
                        cache(key, None, None);
                    }
                    Err(if miss.reasons.is_empty() {
                        "no metadata source is configured".into()
                    } else {
                        miss.reasons.join("; ")
                    })
                }
            })
            .collect();
        (out, to_cache)
    }
}
