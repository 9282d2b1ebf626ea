//! `bookstrack-bench enrich`: the acceptance run for batch enrichment. A
//! fake Open Library in this process serves `/api/books` in the real shape,
//! allows 3 requests per rolling second and answers 429 beyond, and counts
//! both.

use crate::server::{median, ServerChild};
use anyhow::{bail, Result};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bookstrack_client::{Client, StreamOptions};
use bookstrack_protocol::Payload;
use clap::Args;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct EnrichArgs {
    #[arg(long, default_value_t = 1000)]
    pub(crate) books: u64,
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: usize,
}

/// The fake's rate limit, Open Library's documented default for API use.
const LIMIT_PER_SECOND: usize = 3;

#[derive(Default)]
struct Fake {
    arrivals: Mutex<VecDeque<Instant>>,
    requests: AtomicU64,
    rejected: AtomicU64,
}

async fn books(State(f): State<Arc<Fake>>, Query(q): Query<HashMap<String, String>>) -> Response {
    f.requests.fetch_add(1, Ordering::Relaxed);
    {
        let mut a = f.arrivals.lock().expect("lock");
        let now = Instant::now();
        while a
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            a.pop_front();
        }
        if a.len() >= LIMIT_PER_SECOND {
            f.rejected.fetch_add(1, Ordering::Relaxed);
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response();
        }
        a.push_back(now);
    }
    let mut out = Map::new();
    for key in q
        .get("bibkeys")
        .map(String::as_str)
        .unwrap_or("")
        .split(',')
    {
        let isbn = key.trim_start_matches("ISBN:");
        out.insert(
            key.to_string(),
            json!({"title": format!("Title {isbn}"), "authors": [{"name": "An Author"}],
                   "publishers": [{"name": "A Press"}], "publish_date": "2001",
                   "number_of_pages": 300, "identifiers": {"isbn_13": [isbn]},
                   "subjects": [{"name": "Fiction"}], "cover": {"large": "https://covers/l.jpg"}}),
        );
    }
    Json(Value::Object(out)).into_response()
}

fn isbn13(n: u64) -> String {
    bookstrack_server::pipelines::csv_import::isbn::with_check_digit(&format!("978{n:09}"))
}

async fn run_job(client: &Client, books: &Value) -> Result<(Duration, u64)> {
    let t = Instant::now();
    let started = client.start_enrichment(books).await?;
    let mut events = client.follow(&started, StreamOptions::default());
    while let Some(ev) = events.next().await {
        match ev?.into_payload() {
            Payload::JobComplete { result } => {
                return Ok((
                    t.elapsed(),
                    result
                        .get("successCount")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                ));
            }
            Payload::Error { error } => bail!("job failed: {}", error.message),
            _ => {}
        }
    }
    bail!("the job did not complete")
}

pub async fn enrich(n: u64, runs: usize) -> Result<()> {
    let fake = Arc::new(Fake::default());
    let app = axum::Router::new()
        .route("/api/books", axum::routing::get(books))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let fake_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"title": format!("Book {i}"), "isbn": isbn13(1_000 + i)}))
        .collect();
    let body = json!({"books": list});
    println!("enrichment of {n} books with ISBNs; fake Open Library at {LIMIT_PER_SECOND} requests/s, 429 beyond; {runs} runs");
    println!("run  first run  requests  429s  second run  requests");
    let (mut firsts, mut seconds) = (Vec::new(), Vec::new());
    for i in 1..=runs.max(1) {
        // Each run is a new server process with its own limiter: let the
        // previous process's requests leave the provider's one-second window.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let dir = tempfile::tempdir()?;
        let server = ServerChild::start_with(
            &dir.path().join("data"),
            &[
                "--openlibrary-url",
                &fake_url,
                "--enrich-providers",
                "cache,openlibrary",
                "--ready-timeout-secs",
                "0",
            ],
        )?;
        let client = Client::new(&server.url)?;
        let (r0, x0) = (
            fake.requests.load(Ordering::Relaxed),
            fake.rejected.load(Ordering::Relaxed),
        );
        let (t1, ok1) = run_job(&client, &body).await?;
        let (r1, x1) = (
            fake.requests.load(Ordering::Relaxed),
            fake.rejected.load(Ordering::Relaxed),
        );
        let (t2, ok2) = run_job(&client, &body).await?;
        let r2 = fake.requests.load(Ordering::Relaxed);
        if ok1 != n || ok2 != n {
            bail!("enriched {ok1} and {ok2} of {n}");
        }
        println!(
            "{i:<4} {:>7.2} s  {:>8}  {:>4}  {:>8.3} s  {:>8}",
            t1.as_secs_f64(),
            r1 - r0,
            x1 - x0,
            t2.as_secs_f64(),
            r2 - r1
        );
        firsts.push(t1.as_secs_f64());
        seconds.push(t2.as_secs_f64());
    }
    println!(
        "median first run {:.2} s, second run {:.3} s; 429s served in all runs: {}",
        median(firsts),
        median(seconds),
        fake.rejected.load(Ordering::Relaxed)
    );
    Ok(())
}
