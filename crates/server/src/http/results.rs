//! `GET /api/jobs/{jobId}/results`, streamed from the store page by page.
//!
//! Built whole, one answer on a 200,000-row import held ~700 MiB (issue 17):
//! here the body is produced as hyper asks for it, one page of
//! [`PAGE_ROWS`] rows read on a store reader thread (`store/reader.rs`) at a
//! time, so an answer holds one page whatever the job's size. The JSON is the
//! one the whole-output answer sent (docs/PROTOCOL.md §4.6), keys in the same
//! (sorted) order. Answers streaming at once are bounded by
//! `--max-results-streams`: each holds a permit until its body is done or
//! dropped.

use crate::api_error::{auth_err, ApiErr};
use crate::app::App;
use crate::auth::{authorize, bearer};
use crate::clock;
use crate::store::{JobStore, OutputPart};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bookstrack_protocol::{ErrorCode, JobState};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// Rows read from the store per page (and sent per chunk).
pub const PAGE_ROWS: u32 = 256;

/// What a client refused for too many streams is told to wait.
const RETRY_AFTER: Duration = Duration::from_secs(1);

pub async fn results(
    State(app): State<Arc<App>>,
    Path(job_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiErr> {
    authorize(
        app.jobs.store.as_ref(),
        &app.jobs.metrics,
        &job_id,
        bearer(&headers),
    )
    .await
    .map_err(auth_err)?;
    let permit = app
        .results_streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiErr::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!(
                    "{} results answers are already streaming; retry later",
                    app.config.max_results_streams
                ),
            )
            .retry_after(RETRY_AFTER)
        })?;
    let state = app
        .jobs
        .store
        .job_state(&job_id)
        .await?
        .ok_or_else(ApiErr::not_found)?;
    let pages = Pages {
        store: app.jobs.store.clone(),
        job_id,
        step: Step::Head(state),
        after: -1,
        first: true,
        _permit: permit,
    };
    let stream = futures_util::stream::unfold(pages, |mut p| async move {
        let chunk = p.next().await?;
        Some((chunk, p))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

enum Step {
    /// The envelope's opening, with the state whose counts end it.
    Head(JobState),
    Part(OutputPart, JobState),
    Done,
}

/// The answer's state: which list is being sent and the last index sent.
struct Pages {
    store: Arc<dyn JobStore>,
    job_id: String,
    step: Step,
    after: i64,
    /// No row of the current list sent yet (no comma before the next).
    first: bool,
    _permit: OwnedSemaphorePermit,
}

impl Pages {
    /// The next chunk, `None` after the last.
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        let (part, state) = match std::mem::replace(&mut self.step, Step::Done) {
            Step::Done => return None,
            Step::Head(state) => {
                self.step = Step::Part(OutputPart::Books, state);
                return Some(Ok(Bytes::from_static(
                    br#"{"success":true,"data":{"books":["#,
                )));
            }
            Step::Part(part, state) => (part, state),
        };
        let page = match self
            .store
            .output_page(&self.job_id, part, self.after, PAGE_ROWS)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                // The status is sent: all that is left is to cut the body
                // short, which the client sees as an error.
                tracing::error!(error = %e, "results stream failed");
                return Some(Err(std::io::Error::other(e)));
            }
        };
        if !page.is_empty() {
            self.step = Step::Part(part, state);
            return Some(self.rows(page));
        }
        self.after = -1;
        self.first = true;
        let chunk = match part {
            OutputPart::Books => {
                self.step = Step::Part(OutputPart::Duplicates, state);
                "],\"duplicates\":[".to_string()
            }
            OutputPart::Duplicates => {
                self.step = Step::Part(OutputPart::Errors, state);
                "],\"errors\":[".to_string()
            }
            OutputPart::Errors => tail(&self.job_id, &state),
        };
        Some(Ok(Bytes::from(chunk)))
    }

    /// A page's rows, each re-serialised as the whole-output answer did
    /// (keys sorted), joined by commas.
    fn rows(&mut self, page: Vec<(i64, String)>) -> Result<Bytes, std::io::Error> {
        let mut out = Vec::with_capacity(page.iter().map(|(_, j)| j.len() + 1).sum());
        for (idx, json) in page {
            let v: Value = serde_json::from_str(&json).map_err(std::io::Error::other)?;
            if !std::mem::take(&mut self.first) {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &v).map_err(std::io::Error::other)?;
            self.after = idx;
        }
        Ok(Bytes::from(out))
    }
}

/// The lists' end: the counts, in the sorted key order of a `serde_json` map.
fn tail(job_id: &str, s: &JobState) -> String {
    format!(
        "],\"failureCount\":{},\"jobId\":{},\"pipeline\":{},\"status\":{},\"successCount\":{},\"totalCount\":{}}},\"meta\":{{\"timestamp\":{}}}}}",
        json(&s.failure_count),
        json(&job_id),
        json(&s.pipeline),
        json(&s.status),
        json(&s.success_count),
        json(&s.total_count),
        clock::now_ms(),
    )
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}
