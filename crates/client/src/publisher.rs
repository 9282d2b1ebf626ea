//! The publisher side of an external job (docs/PROTOCOL.md §21): a worker
//! in another service creates the job, then reports its progress, its
//! result or its failure through the hub, which gives the job its seqs,
//! resume and durability for the viewers.
//!
//! Every event is sent with an idempotency key (`{prefix}-{n}`), and a
//! request whose answer is lost (a dropped connection, a 5xx, a restart of
//! the server, a 429) is sent again with the same keys, so that a retry
//! never appends an event twice.

use crate::{Client, ClientError, ReconnectPolicy};
use bookstrack_protocol::publish::{
    CreateExternalJob, ExternalJobCreated, PublishEvent, PublishOutcome, PublishRequest,
    PublishResponse, PublisherKeyRefreshed, RefreshPublisherKey,
};
use bookstrack_protocol::{ApiSuccess, ErrorCode, Pipeline};
use serde_json::{Map, Value};
use std::time::Duration;

/// How a publisher retries; the delays are [`ReconnectPolicy`]'s.
#[derive(Debug, Clone)]
pub struct PublishPolicy {
    pub retry: ReconnectPolicy,
}

impl Default for PublishPolicy {
    fn default() -> Self {
        PublishPolicy {
            retry: ReconnectPolicy {
                base: Duration::from_millis(100),
                cap: Duration::from_secs(5),
                max_attempts: 30,
                jitter: 0.2,
            },
        }
    }
}

/// One external job, as its publisher holds it.
#[derive(Debug, Clone)]
pub struct Publisher {
    client: Client,
    /// What viewers need (`jobId`, `token`) and the publisher key.
    pub job: ExternalJobCreated,
    policy: PublishPolicy,
    key_prefix: String,
    next_key: u64,
}

impl Client {
    /// Creates an external job of `pipeline` and returns its publisher.
    pub async fn create_job(
        &self,
        pipeline: Pipeline,
        total_count: Option<u64>,
    ) -> Result<Publisher, ClientError> {
        let resp = self
            .creating(self.http().post(format!("{}/api/jobs", self.base_url())))
            .json(&CreateExternalJob {
                pipeline,
                total_count,
            })
            .send()
            .await?;
        let job = Self::decode::<ApiSuccess<ExternalJobCreated>>(resp)
            .await?
            .data;
        Ok(Publisher::resume(self.clone(), job, 0))
    }
}

impl Publisher {
    /// A publisher for a job created earlier (by another process, say),
    /// numbering its keys from `next_key`: a process that restarts must
    /// carry on after the keys it used, or reuse them for the same events.
    pub fn resume(client: Client, job: ExternalJobCreated, next_key: u64) -> Publisher {
        let key_prefix = job.job_id.chars().rev().take(12).collect::<String>();
        Publisher {
            client,
            job,
            policy: PublishPolicy::default(),
            key_prefix,
            next_key,
        }
    }

    pub fn with_policy(mut self, policy: PublishPolicy) -> Publisher {
        self.policy = policy;
        self
    }

    /// The next idempotency key this publisher will use.
    pub fn next_key(&self) -> u64 {
        self.next_key
    }

    fn key(&mut self) -> String {
        let k = format!("{}-{}", self.key_prefix, self.next_key);
        self.next_key += 1;
        k
    }

    /// `processed` of `total` done, with a status line; returns its seq.
    pub async fn progress(
        &mut self,
        processed: u64,
        total: Option<u64>,
        status: impl Into<String>,
        current_title: Option<String>,
    ) -> Result<u64, ClientError> {
        let ev = PublishEvent::Progress {
            key: Some(self.key()),
            progress: None,
            status: status.into(),
            books_processed: Some(processed),
            total_books: total,
            current_title,
        };
        self.one(ev).await
    }

    /// The job's result (`books`, ...); the counts are the hub's.
    pub async fn complete(
        &mut self,
        result: Map<String, Value>,
        success_count: Option<u64>,
        failure_count: Option<u64>,
    ) -> Result<u64, ClientError> {
        let ev = PublishEvent::Complete {
            key: Some(self.key()),
            result,
            success_count,
            failure_count,
        };
        self.one(ev).await
    }

    pub async fn fail(
        &mut self,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Result<u64, ClientError> {
        let ev = PublishEvent::Error {
            key: Some(self.key()),
            code,
            message: message.into(),
        };
        self.one(ev).await
    }

    async fn one(&mut self, ev: PublishEvent) -> Result<u64, ClientError> {
        let resp = self.publish(vec![ev]).await?;
        match resp.results.into_iter().next() {
            Some(PublishOutcome::Appended { seq } | PublishOutcome::Duplicate { seq }) => Ok(seq),
            Some(PublishOutcome::Refused { error }) => Err(ClientError::Api {
                status: 409,
                code: error.code,
                message: error.message,
            }),
            None => Err(ClientError::Protocol(
                "a publish answer without results".into(),
            )),
        }
    }

    /// Sends events as one request (keys as given), retrying a lost
    /// answer; a 409 (an event refused) comes back as the answer, with the
    /// outcome of each event.
    pub async fn publish(&self, events: Vec<PublishEvent>) -> Result<PublishResponse, ClientError> {
        let body = PublishRequest { events };
        let mut attempt = 0;
        loop {
            let err = match self.send(&body).await {
                Ok(resp) => return Ok(resp),
                Err((e, _)) if !retryable(&e) => return Err(e),
                Err(e) => e,
            };
            attempt += 1;
            if attempt >= self.policy.retry.max_attempts {
                return Err(ClientError::GaveUp {
                    attempts: attempt,
                    last: err.0.to_string(),
                });
            }
            let wait = err
                .1
                .unwrap_or_else(|| self.policy.retry.delay(attempt - 1));
            tracing::debug!(attempt, error = %err.0, "publish retried");
            tokio::time::sleep(wait).await;
        }
    }

    async fn send(
        &self,
        body: &PublishRequest,
    ) -> Result<PublishResponse, (ClientError, Option<Duration>)> {
        let url = format!(
            "{}/api/jobs/{}/events",
            self.client.base_url(),
            self.job.job_id
        );
        let resp = self
            .client
            .http()
            .post(url)
            .bearer_auth(&self.job.publisher_key)
            .json(body)
            .send()
            .await
            .map_err(|e| (ClientError::Http(e), None))?;
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map(Duration::from_secs);
        if resp.status().as_u16() == 409 {
            let text = resp
                .text()
                .await
                .map_err(|e| (ClientError::Http(e), None))?;
            #[derive(serde::Deserialize)]
            struct Refused {
                data: PublishResponse,
            }
            return serde_json::from_str::<Refused>(&text)
                .map(|r| r.data)
                .map_err(|_| {
                    (
                        ClientError::Unexpected {
                            status: 409,
                            body: text,
                        },
                        None,
                    )
                });
        }
        Client::decode::<ApiSuccess<PublishResponse>>(resp)
            .await
            .map(|s| s.data)
            .map_err(|e| (e, retry_after))
    }

    /// Replaces the publisher key; the old one stops working at once. The
    /// new key is made here and sent, so a retry after a lost answer is
    /// recognised by the server and this publisher is never locked out.
    pub async fn refresh_key(&mut self) -> Result<(), ClientError> {
        let new_key = {
            use rand::RngCore;
            let mut raw = [0u8; 32];
            rand::rng().fill_bytes(&mut raw);
            raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let url = format!(
            "{}/api/jobs/{}/publisher-key/refresh",
            self.client.base_url(),
            self.job.job_id
        );
        let body = RefreshPublisherKey { new_key };
        let mut attempt = 0;
        let fresh = loop {
            let sent = self
                .client
                .http()
                .post(&url)
                .bearer_auth(&self.job.publisher_key)
                .json(&body)
                .send()
                .await;
            let result = match sent {
                Ok(resp) => Client::decode::<ApiSuccess<PublisherKeyRefreshed>>(resp).await,
                Err(e) => Err(ClientError::Http(e)),
            };
            match result {
                Ok(s) => break s.data,
                Err(e) if !retryable(&e) => return Err(e),
                Err(e) => {
                    attempt += 1;
                    if attempt >= self.policy.retry.max_attempts {
                        return Err(ClientError::GaveUp {
                            attempts: attempt,
                            last: e.to_string(),
                        });
                    }
                    tokio::time::sleep(self.policy.retry.delay(attempt - 1)).await;
                }
            }
        };
        self.job.publisher_key = fresh.publisher_key;
        self.job.publisher_key_expires_at = fresh.publisher_key_expires_at;
        Ok(())
    }
}

/// A lost answer, a server error or a rate limit: the same request again
/// is safe (the keys make it so) and may succeed.
fn retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Http(_) => true,
        ClientError::Api { status, .. } | ClientError::Unexpected { status, .. } => {
            *status == 429 || *status >= 500
        }
        _ => false,
    }
}
