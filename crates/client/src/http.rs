use crate::{ClientError, JobStream, ResyncPolicy, StreamOptions};
use bookstrack_protocol::{
    ApiFailure, ApiSuccess, JobStarted, JobState, RefreshRequest, RefreshResponse,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

/// A handle on one server. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    api_key: Option<ApiKey>,
}

/// The variable the API key is read from by [`Client::new`].
pub const API_KEY_ENV: &str = "BOOKSTRACK_API_KEY";

/// The header that presents job tokens (docs/PROTOCOL.md §4.3).
pub const JOB_TOKENS_HEADER: &str = "X-Bookstrack-Job-Tokens";

/// The server's API key; its `Debug` never shows it.
#[derive(Clone)]
struct ApiKey(std::sync::Arc<str>);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(…)")
    }
}

fn install_crypto() {
    // reqwest is built without a default TLS provider (to avoid aws-lc);
    // ring is installed once, process-wide.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    pub fn new(base_url: impl Into<String>) -> Result<Client, ClientError> {
        install_crypto();
        let base = base_url.into().trim_end_matches('/').to_string();
        let key = std::env::var(API_KEY_ENV).ok();
        Ok(Client {
            base,
            http: reqwest::Client::builder().build()?,
            api_key: None,
        }
        .with_api_key(key))
    }

    /// Sends `key` (if any, and not blank) as the bearer of every request
    /// that starts a job (docs/PROTOCOL.md §4.1), instead of
    /// `BOOKSTRACK_API_KEY`.
    pub fn with_api_key(mut self, key: Option<String>) -> Client {
        self.api_key = key
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .map(|k| ApiKey(k.into()));
        self
    }

    /// A request that starts a job: with the API key, if there is one.
    pub(crate) fn creating(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(ApiKey(k)) => req.bearer_auth(k),
            None => req,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) async fn decode<T: DeserializeOwned>(
        resp: reqwest::Response,
    ) -> Result<T, ClientError> {
        let status = resp.status().as_u16();
        let body = resp.text().await?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&body)
                .map_err(|_| ClientError::Unexpected { status, body });
        }
        match serde_json::from_str::<ApiFailure>(&body) {
            Ok(f) => Err(ClientError::Api {
                status,
                code: f.error.code,
                message: f.error.message,
            }),
            Err(_) => Err(ClientError::Unexpected { status, body }),
        }
    }

    /// Uploads a library export; the job waits for a viewer's `ready`.
    pub async fn start_import(&self, path: &Path) -> Result<JobStarted, ClientError> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| ClientError::File {
                path: path.display().to_string(),
                source,
            })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "library.csv".into());
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name)
            .mime_str("text/csv")?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let resp = self
            .creating(self.http.post(format!("{}/api/import/csv", self.base)))
            .multipart(form)
            .send()
            .await?;
        Ok(Self::decode::<ApiSuccess<JobStarted>>(resp).await?.data)
    }

    /// Uploads shelf photos: one to `/api/scan-bookshelf`, several as a batch.
    pub async fn start_scan(
        &self,
        photos: &[std::path::PathBuf],
    ) -> Result<JobStarted, ClientError> {
        let (path, field) = if photos.len() == 1 {
            ("/api/scan-bookshelf", "image")
        } else {
            ("/api/scan-bookshelf/batch", "photos")
        };
        let mut form = reqwest::multipart::Form::new();
        for p in photos {
            let bytes = tokio::fs::read(p)
                .await
                .map_err(|source| ClientError::File {
                    path: p.display().to_string(),
                    source,
                })?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            form = form.part(
                field.to_string(),
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            );
        }
        let resp = self
            .creating(self.http.post(format!("{}{path}", self.base)))
            .multipart(form)
            .send()
            .await?;
        Ok(Self::decode::<ApiSuccess<JobStarted>>(resp).await?.data)
    }

    /// Starts an enrichment job; `body` is `{"books": […]}` or `{"workIds": […]}`.
    pub async fn start_enrichment(&self, body: &Value) -> Result<JobStarted, ClientError> {
        self.start_enrichment_presenting(body, &[]).await
    }

    /// [`Client::start_enrichment`] presenting the tokens of the jobs whose
    /// `workIds` it names: the server resolves no other job's works.
    pub async fn start_enrichment_presenting(
        &self,
        body: &Value,
        job_tokens: &[&str],
    ) -> Result<JobStarted, ClientError> {
        let mut req = self.creating(
            self.http
                .post(format!("{}/api/enrichment/start", self.base)),
        );
        if !job_tokens.is_empty() {
            req = req.header(JOB_TOKENS_HEADER, job_tokens.join(", "));
        }
        let resp = req.json(body).send().await?;
        Ok(Self::decode::<ApiSuccess<JobStarted>>(resp).await?.data)
    }

    pub async fn job_state(&self, job_id: &str, token: &str) -> Result<JobState, ClientError> {
        let resp = self
            .http
            .get(format!("{}/api/job-state/{job_id}", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        match resp.status().as_u16() {
            404 => Err(ClientError::JobGone),
            401 => Err(ClientError::Unauthorized(
                "job-state refused the token".into(),
            )),
            _ => Self::decode(resp).await,
        }
    }

    /// `job_state` retried on 5xx and transport errors as `policy` says;
    /// a 4xx is final at once (404 is [`ClientError::JobGone`]).
    pub async fn job_state_with_retry(
        &self,
        job_id: &str,
        token: &str,
        policy: &ResyncPolicy,
    ) -> Result<JobState, ClientError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.job_state(job_id, token).await {
                Ok(s) => return Ok(s),
                Err(e) if e.is_client_error() || tries >= policy.tries.max(1) => return Err(e),
                Err(_) => {
                    let wait = policy.waits.get(tries as usize - 1).or(policy.waits.last());
                    tokio::time::sleep(wait.copied().unwrap_or_default()).await;
                }
            }
        }
    }

    /// A new token for the job, replacing `old`.
    pub async fn refresh_token(
        &self,
        job_id: &str,
        old: &str,
    ) -> Result<RefreshResponse, ClientError> {
        let resp = self
            .http
            .post(format!("{}/api/token/refresh", self.base))
            .json(&RefreshRequest {
                job_id: job_id.into(),
                old_token: old.into(),
            })
            .send()
            .await?;
        Self::decode(resp).await
    }

    /// The job's output (`data` of `/api/jobs/{id}/results`).
    pub async fn results(&self, job_id: &str, token: &str) -> Result<Value, ClientError> {
        let resp = self
            .http
            .get(format!("{}/api/jobs/{job_id}/results", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        Ok(Self::decode::<ApiSuccess<Value>>(resp).await?.data)
    }

    /// Follows a job just started: its events from the first, resumed
    /// across drops, with its token refreshed before it expires.
    pub fn follow(&self, started: &JobStarted, opts: StreamOptions) -> JobStream {
        JobStream::new(
            self.clone(),
            started.job_id.clone(),
            crate::StoredToken {
                token: started.token.clone(),
                expires_at: started.expires_at,
                refreshable_from: started.refreshable_from,
            },
            opts,
        )
    }

    /// Follows a job by id and token (its expiry unknown).
    pub fn events(&self, job_id: &str, token: &str, opts: StreamOptions) -> JobStream {
        JobStream::new(
            self.clone(),
            job_id.into(),
            crate::StoredToken {
                token: token.into(),
                expires_at: None,
                refreshable_from: None,
            },
            opts,
        )
    }

    /// Follows many jobs over one socket (`/ws/jobs`); add them with
    /// [`MuxStream::add`] or [`MuxStream::add_started`].
    pub fn follow_many(&self, opts: StreamOptions) -> crate::MuxStream {
        crate::MuxStream::new(self.clone(), opts)
    }

    /// The server's address with a WebSocket scheme.
    pub(crate) fn ws_base(&self) -> String {
        if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.base.clone()
        }
    }

    pub(crate) fn ws_url(&self, job_id: &str, token: &str, last_seq: u64) -> String {
        let ws = self.ws_base();
        format!("{ws}/ws/progress?jobId={job_id}&token={token}&lastSeq={last_seq}")
    }
}
