//! `POST /api/enrichment/start`: inline books, or `workIds` of books the
//! server holds from earlier imports; an optional client-chosen `jobId`.

use crate::access::presented_jobs;
use crate::api_error::ApiErr;
use crate::app::App;
use crate::clock;
use crate::http::admitted::Admitted;
use crate::pipelines::enrichment::works::{self, WorksError};
use crate::pipelines::enrichment::{EnrichmentSpec, Query};
use crate::pipelines::JobSpec;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use bookstrack_protocol::{ApiSuccess, ErrorCode, JobStarted};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartEnrichment {
    /// Chosen by the client; made by the server when absent.
    #[schema(format = "uuid")]
    job_id: Option<String>,
    books: Option<Vec<BookIn>>,
    work_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BookIn {
    title: String,
    author: Option<String>,
    isbn: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiErr {
    ApiErr::bad_request(ErrorCode::InvalidRequest, message)
}

/// The books given inline: each needs a title or an ISBN; blank fields are
/// dropped.
fn inline_books(given: Vec<BookIn>) -> Result<Vec<Query>, ApiErr> {
    let mut books = Vec::with_capacity(given.len());
    for b in given {
        if b.title.trim().is_empty() && b.isbn.as_deref().is_none_or(|i| i.trim().is_empty()) {
            return Err(bad("every book needs a title or an ISBN"));
        }
        books.push(Query {
            title: b.title,
            author: b.author.filter(|a| !a.trim().is_empty()),
            isbn: b.isbn.filter(|i| !i.trim().is_empty()),
            work_id: None,
        });
    }
    Ok(books)
}

pub async fn start(
    State(app): State<Arc<App>>,
    admitted: Admitted,
    headers: HeaderMap,
    body: Result<Json<StartEnrichment>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<ApiSuccess<JobStarted>>), ApiErr> {
    let Json(req) = body.map_err(|e| {
        bad(format!(
            "expected {{\"jobId\"?, \"books\": [{{\"title\", \"author\"?, \"isbn\"?}}]}} or {{\"workIds\": […]}}: {}",
            e.body_text()
        ))
    })?;
    let job_id = match req.job_id {
        Some(id) => uuid::Uuid::parse_str(&id)
            .map_err(|_| bad(format!("jobId {id:?} is not a UUID")))?
            .to_string(),
        None => App::new_job_id(),
    };
    let mut books = inline_books(req.books.unwrap_or_default())?;
    let work_ids = req.work_ids.unwrap_or_default();
    if !work_ids.is_empty() {
        // Only the works of jobs whose tokens are presented (§4.3).
        let jobs = presented_jobs(
            app.jobs.store.as_ref(),
            &headers,
            app.config.max_presented_tokens,
        )
        .await?;
        let found = works::queries(app.pipelines.lookups.as_ref(), &jobs, &work_ids)
            .await
            .map_err(|e| match e {
                WorksError::Unknown(ids) => ApiErr::new(
                    StatusCode::NOT_FOUND,
                    ErrorCode::InvalidRequest,
                    format!("unknown work ids: {}", ids.join(", ")),
                ),
                WorksError::Store(e) => e.into(),
            })?;
        books.extend(found);
    }
    if books.is_empty() {
        return Err(bad("no books: give `books` or `workIds`"));
    }
    let max = app.config.enrich.max_books;
    if books.len() > max {
        return Err(ApiErr::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!(
                "{} books, more than the limit of {max} per job",
                books.len()
            ),
        ));
    }
    let started = app
        .start_job_held(
            job_id,
            JobSpec::Enrichment(EnrichmentSpec {
                books: books.clone(),
                client: admitted.client,
            }),
            None,
            Some(admitted.slot),
        )
        .await?;
    let data = started.into_data(
        format!("Enrichment started for {} books", books.len()),
        None,
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(ApiSuccess::new(data, clock::now_ms())),
    ))
}
