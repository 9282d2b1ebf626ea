//! The publisher API (docs/PROTOCOL.md §21): `POST /api/jobs` creates an
//! external job, `POST /api/jobs/{jobId}/events` publishes to it with the
//! publisher key, `POST /api/jobs/{jobId}/publisher-key/refresh` rotates
//! that key. The request-level limits are checked here; the rules on each
//! event are the owner's (`job/owner/publish.rs`), and the publish rate is
//! the runner's (`pipelines/external.rs`).

use crate::api_error::auth_err;
use crate::api_error::ApiErr;
use crate::app::{App, AppError};
use crate::auth::{self, bearer, AuthError, Denied};
use crate::clock;
use crate::job::{PublishAnswer, PublishBatch};
use crate::metrics::Refusal;
use crate::pipelines::external::ExternalSpec;
use crate::pipelines::{BuildError, JobSpec};
use crate::store::TokenRecord;
use crate::token;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bookstrack_protocol::publish::{
    valid_key, CreateExternalJob, ExternalJobCreated, PublishEvent, PublishOutcome, PublishRequest,
    PublishResponse, PublisherKeyRefreshed, RefreshPublisherKey, MAX_KEY_LEN,
};
use bookstrack_protocol::{ApiError, ApiSuccess, ErrorCode, Meta, Pipeline, MAX_COUNT};
use std::sync::Arc;
use std::time::Duration;

/// When a client at its external-job limit may try again: a slot frees
/// only when one of its jobs ends, which this server cannot foresee.
const FULL_RETRY: Duration = Duration::from_secs(10);

pub async fn create(
    State(app): State<Arc<App>>,
    admitted: crate::http::admitted::Admitted,
    body: Result<Json<CreateExternalJob>, JsonRejection>,
) -> Result<(StatusCode, Json<ApiSuccess<ExternalJobCreated>>), ApiErr> {
    let Json(req) = body.map_err(|e| {
        ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            format!(
                "expected {{\"pipeline\": \"csv_import\" | \"batch_enrichment\" | \"ai_scan\", \"totalCount\"?}}: {}",
                e.body_text()
            ),
        )
    })?;
    if req.pipeline == Pipeline::Synthetic {
        return Err(ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            "an external job is a csv_import, batch_enrichment or ai_scan job",
        ));
    }
    if req.total_count.is_some_and(|n| n > MAX_COUNT) {
        return Err(ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            format!("totalCount is at most {MAX_COUNT}"),
        ));
    }
    let client = admitted.client;
    let job_id = App::new_job_id();
    let spec = JobSpec::External(ExternalSpec {
        job_id: job_id.clone(),
        pipeline: req.pipeline,
        total_count: req.total_count.unwrap_or(0),
        client,
    });
    let started = match app
        .start_job_held(job_id, spec, None, Some(admitted.slot))
        .await
    {
        Ok(s) => s,
        Err(AppError::Build(BuildError::TooManyJobs(e))) => {
            app.jobs.metrics.refused(Refusal::TooManyJobs);
            return Err(ApiErr::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                e.to_string(),
            )
            .retry_after(FULL_RETRY));
        }
        Err(e) => return Err(e.into()),
    };
    let (publisher_key, publisher_key_expires_at) = started
        .publisher_key
        .ok_or_else(|| ApiErr::internal("the job has no publisher key"))?;
    let data = ExternalJobCreated {
        job_id: started.job_id,
        token: started.token,
        expires_at: started.expires_at,
        refreshable_from: started.refreshable_from,
        publisher_key,
        publisher_key_expires_at,
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(ApiSuccess::new(data, clock::now_ms())),
    ))
}

/// The request as the limits allow it, or the refusal.
fn read_request(app: &App, body: Result<Bytes, BytesRejection>) -> Result<PublishRequest, ApiErr> {
    let limits = &app.config.publish;
    let too_large = |message: String| {
        app.jobs.metrics.refused(Refusal::TooLarge);
        ApiErr::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            message,
        )
    };
    let invalid = |message: String| {
        app.jobs.metrics.refused(Refusal::Invalid);
        ApiErr::bad_request(ErrorCode::InvalidRequest, message)
    };
    let body = body.map_err(|e| {
        too_large(format!(
            "a publish request is at most {} bytes: {}",
            limits.max_request_bytes,
            e.body_text()
        ))
    })?;
    let req: PublishRequest = serde_json::from_slice(&body).map_err(|e| {
        invalid(format!(
            "expected {{\"events\": [...]}} (docs/PROTOCOL.md §21): {e}"
        ))
    })?;
    if req.events.is_empty() {
        return Err(invalid(
            "a publish request carries at least one event".into(),
        ));
    }
    if req.events.len() > limits.max_events {
        return Err(too_large(format!(
            "a publish request carries at most {} events, not {}",
            limits.max_events,
            req.events.len()
        )));
    }
    for (i, ev) in req.events.iter().enumerate() {
        if ev.key().is_some_and(|k| !valid_key(k)) {
            return Err(invalid(format!(
                "event {i}: a key is 1 to {MAX_KEY_LEN} characters of A-Z a-z 0-9 . _ : -"
            )));
        }
        let counts = match ev {
            PublishEvent::Progress {
                books_processed,
                total_books,
                ..
            } => [*books_processed, *total_books],
            PublishEvent::Complete {
                success_count,
                failure_count,
                ..
            } => [*success_count, *failure_count],
            PublishEvent::Error { .. } => [None, None],
        };
        if counts.into_iter().flatten().any(|n| n > MAX_COUNT) {
            return Err(invalid(format!(
                "event {i}: a count is at most {MAX_COUNT}"
            )));
        }
        let size = serde_json::to_vec(ev).map_or(usize::MAX, |v| v.len());
        if size > limits.max_event_bytes {
            return Err(too_large(format!(
                "event {i} is {size} bytes; an event is at most {}",
                limits.max_event_bytes
            )));
        }
    }
    Ok(req)
}

/// The publisher key against the live job's cached record, or the
/// store's (then cached), by the same check as the viewers' token.
async fn authorize_publisher(app: &App, job_id: &str, headers: &HeaderMap) -> Result<(), ApiErr> {
    let publishers = &app.pipelines.external.publishers;
    let record = match publishers.cached_key(job_id) {
        Some(r) => Some(r),
        None => {
            let r = app.jobs.store.publisher_token(job_id).await?;
            if let Some(r) = &r {
                publishers.cache_key(job_id, r.clone());
            }
            r
        }
    };
    auth::check(&app.jobs.metrics, record.as_ref(), bearer(headers)).map_err(|d| {
        if d != Denied::NotFound {
            app.jobs.metrics.refused(Refusal::Unauthorized);
        }
        auth_err(AuthError::Denied(d))
    })
}

pub async fn publish(
    State(app): State<Arc<App>>,
    Path(job_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiErr> {
    authorize_publisher(&app, &job_id, &headers).await?;
    let req = read_request(&app, body)?;
    // All that an answer without the live owner needs; the events go on.
    let keys: Vec<Option<String>> = req
        .events
        .iter()
        .map(|e| e.key().map(str::to_string))
        .collect();
    if let Some(calls) = app.pipelines.external.publishers.sender(&job_id) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let batch = PublishBatch {
            events: req.events,
            reply,
        };
        if calls.send(batch).await.is_ok() {
            match answer.await {
                Ok(PublishAnswer::Done(resp)) => return Ok(respond(resp)),
                Ok(PublishAnswer::Store(e)) => return Err(e.into()),
                Ok(PublishAnswer::RateLimited(wait)) => {
                    app.jobs.metrics.refused(Refusal::RateLimited);
                    return Err(ApiErr::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        ErrorCode::RateLimited,
                        format!(
                            "this job takes at most {} events per second",
                            app.config.publish.rate_per_job
                        ),
                    )
                    .retry_after(wait));
                }
                // The job ended while this request waited: answered below.
                Err(_) => {}
            }
        }
    }
    ended(&app, &job_id, &keys).await
}

/// A request for a job with no live owner: one that has ended (a retry of
/// its last events is recognised by their keys), or one being recovered.
async fn ended(app: &App, job_id: &str, events: &[Option<String>]) -> Result<Response, ApiErr> {
    let store = app.jobs.store.as_ref();
    let state = store
        .job_state(job_id)
        .await?
        .ok_or_else(ApiErr::not_found)?;
    if !state.status.is_terminal() {
        return Err(ApiErr::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::InternalError,
            "the job is being picked up after a restart: retry shortly",
        )
        .retry_after(Duration::from_secs(1)));
    }
    let keys: std::collections::HashMap<String, u64> =
        store.publish_keys(job_id).await?.into_iter().collect();
    let results = events
        .iter()
        .map(|key| match key.as_deref().and_then(|k| keys.get(k)) {
            Some(seq) => {
                app.jobs.metrics.published_duplicate();
                PublishOutcome::Duplicate { seq: *seq }
            }
            None => {
                app.jobs.metrics.refused(Refusal::JobEnded);
                PublishOutcome::Refused {
                    error: ApiError {
                        code: ErrorCode::JobEnded,
                        message: format!(
                            "the job has ended (seq {}): nothing may follow its terminal event",
                            state.last_seq
                        ),
                    },
                }
            }
        })
        .collect();
    Ok(respond(PublishResponse {
        results,
        last_seq: state.last_seq,
    }))
}

/// 200 when every event was logged (now or before); 409 with the first
/// refusal as the error, and every outcome in `data`, when one was not.
fn respond(resp: PublishResponse) -> Response {
    let now = clock::now_ms();
    let first_refusal = resp.results.iter().find_map(|r| match r {
        PublishOutcome::Refused { error } => Some(error.clone()),
        _ => None,
    });
    match first_refusal {
        None => Json(ApiSuccess::new(resp, now)).into_response(),
        Some(error) => (
            StatusCode::CONFLICT,
            Json(serde_json::json!({
                "success": false,
                "error": error,
                "data": resp,
                "meta": Meta { timestamp: now },
            })),
        )
            .into_response(),
    }
}

/// The `newKey` of a refresh request, if it has a body.
fn proposed_key(body: &Bytes) -> Result<Option<String>, ApiErr> {
    if body.is_empty() {
        return Ok(None);
    }
    let req: RefreshPublisherKey = serde_json::from_slice(body).map_err(|e| {
        ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            format!("expected {{\"newKey\"}}: {e}"),
        )
    })?;
    if req.new_key.len() != 64 || !req.new_key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiErr::bad_request(
            ErrorCode::InvalidRequest,
            "newKey is 64 hex characters",
        ));
    }
    Ok(Some(req.new_key))
}

/// Rotates the publisher key: the old one stops working at once. The new
/// key is the publisher's `newKey` if it sent one (else one made here), so
/// that the same request sent again after a lost answer succeeds again.
pub async fn refresh_key(
    State(app): State<Arc<App>>,
    Path(job_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ApiSuccess<PublisherKeyRefreshed>>, ApiErr> {
    let proposed = proposed_key(&body)?;
    let store = app.jobs.store.as_ref();
    let record = store
        .publisher_token(&job_id)
        .await?
        .ok_or_else(ApiErr::not_found)?;
    let presented = bearer(&headers).unwrap_or_default();
    let now = clock::now_ms();
    let answer = |key: String, expires_at: i64| {
        Json(ApiSuccess::new(
            PublisherKeyRefreshed {
                publisher_key: key,
                publisher_key_expires_at: expires_at,
            },
            now,
        ))
    };
    if !token::matches(presented, &record.hash) {
        if record
            .previous
            .is_some_and(|p| token::matches(presented, &p))
        {
            // This very refresh, sent again: its key is the current one.
            if let Some(key) = proposed.filter(|k| token::matches(k, &record.hash)) {
                return Ok(answer(key, record.expires_at));
            }
            return Err(ApiErr::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                "this publisher key has already been replaced",
            ));
        }
        app.jobs.metrics.refused(Refusal::Unauthorized);
        return Err(ApiErr::unauthorized());
    }
    if now >= record.expires_at {
        return Err(ApiErr::expired());
    }
    let key = proposed.unwrap_or_else(|| token::generate().0);
    let hash = token::hash(&key);
    let expires_at = now + app.config.publish.publisher_key_ttl.as_millis() as i64;
    if !store
        .replace_publisher_token(&job_id, &record.hash, &hash, expires_at)
        .await?
    {
        return Err(ApiErr::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            "another refresh of this publisher key won",
        ));
    }
    app.pipelines.external.publishers.replace_key(
        &job_id,
        TokenRecord {
            hash,
            expires_at,
            previous: Some(record.hash),
        },
    );
    app.jobs.metrics.token_refreshed(true);
    Ok(answer(key, expires_at))
}
