use crate::{ClientError, EventStream, ReconnectPolicy};
use bookstrack_protocol::{ApiFailure, ApiSuccess, JobStarted, JobState};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

/// A handle on one server. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::Client,
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
        Ok(Client {
            base,
            http: reqwest::Client::builder().build()?,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
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
            .http
            .post(format!("{}/api/import/csv", self.base))
            .multipart(form)
            .send()
            .await?;
        Ok(Self::decode::<ApiSuccess<JobStarted>>(resp).await?.data)
    }

    /// Starts an enrichment job; `body` is `{"books": […]}` or `{"workIds": […]}`.
    pub async fn start_enrichment(&self, body: &Value) -> Result<JobStarted, ClientError> {
        let resp = self
            .http
            .post(format!("{}/api/enrichment/start", self.base))
            .json(body)
            .send()
            .await?;
        Ok(Self::decode::<ApiSuccess<JobStarted>>(resp).await?.data)
    }

    pub async fn job_state(&self, job_id: &str, token: &str) -> Result<JobState, ClientError> {
        let resp = self
            .http
            .get(format!("{}/api/job-state/{job_id}", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        if resp.status().as_u16() == 404 {
            return Err(ClientError::JobGone);
        }
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

    /// The job's events from the start (or after `last_seq`).
    pub fn events(&self, job_id: &str, token: &str, policy: ReconnectPolicy) -> EventStream {
        EventStream::new(self.clone(), job_id.into(), token.into(), policy)
    }

    pub(crate) fn ws_url(&self, job_id: &str, token: &str, last_seq: u64) -> String {
        let ws = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.base.clone()
        };
        format!("{ws}/ws/progress?jobId={job_id}&token={token}&lastSeq={last_seq}")
    }
}
