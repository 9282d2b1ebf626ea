//! Every route of the server, in one place: the HTTP API (`http/`), the
//! WebSocket upgrade (`ws/`), health and metrics. The wire contract is
//! `docs/PROTOCOL.md`.

use crate::app::App;
use crate::http;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub fn router(app: Arc<App>) -> Router {
    // Uploads are size-checked while they stream (413 at the configured
    // limit), so axum's own 2 MB body cap is lifted for them.
    let uploads = Router::new()
        .route("/api/import/csv", post(http::import::import_csv))
        .route("/api/import/csv-gemini", post(http::import::import_csv))
        .route("/api/scan-bookshelf", post(http::scan::single))
        .route("/api/scan-bookshelf/batch", post(http::scan::batch))
        .layer(DefaultBodyLimit::disable());
    // A publish request's size is its own limit (docs/PROTOCOL.md §21).
    let publish = Router::new()
        .route("/api/jobs/{job_id}/events", post(http::publish::publish))
        .layer(DefaultBodyLimit::max(app.config.publish.max_request_bytes));
    let mut router = Router::new().merge(uploads).merge(publish);
    if app.config.synthetic_jobs {
        router = router.route("/api/synthetic/jobs", post(http::synthetic::start));
    }
    router
        .route("/api/enrichment/start", post(http::enrichment::start))
        .route("/ws/progress", get(crate::ws::ws_progress))
        .route("/ws/jobs", get(crate::ws::ws_jobs))
        .route("/api/job-state/{job_id}", get(http::jobs::job_state))
        .route("/api/jobs/{job_id}/results", get(http::results::results))
        .route("/api/token/refresh", post(http::token::refresh))
        .route("/api/jobs", post(http::publish::create))
        .route(
            "/api/jobs/{job_id}/publisher-key/refresh",
            post(http::publish::refresh_key),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(crate::openapi::serve))
        .merge(http::page::routes())
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            http::body_idle::guard,
        ))
        .layer(
            // Logs the path only: the query string carries tokens.
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::http::Request<axum::body::Body>| {
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
                },
            ),
        )
        .with_state(app)
}

/// Open unless `--metrics-token-file` set a token (`access/credential.rs`).
async fn metrics(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), crate::api_error::ApiErr> {
    crate::access::credential::check(app.config.metrics_token.as_ref(), &headers, "/metrics")?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        app.jobs.metrics.render(app.jobs.store.write_stats()),
    ))
}
