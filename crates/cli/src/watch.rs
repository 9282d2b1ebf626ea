//! Showing a job's events: a progress bar on a terminal, plain lines
//! elsewhere, raw JSON with `--json`.

use anyhow::Result;
use bookstrack_client::{Client, ClientError, FileTokenStore, JobStream, StreamOptions};
use bookstrack_protocol::{Envelope, Payload, Pipeline};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// One event per line, as received.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Exit codes: 0 complete, 1 job failed, 2 usage, 3 gave up reconnecting.
pub(crate) const EXIT_FAILED: u8 = 1;
pub(crate) const EXIT_GAVE_UP: u8 = 3;

pub async fn import(server: &str, file: &Path, out: &OutputArgs) -> Result<ExitCode> {
    let client = Client::new(server)?;
    let started = client.start_import(file).await?;
    if !out.json {
        eprintln!("job {} started", started.job_id);
    }
    let events = client.follow(&started, options());
    follow(&client, events, out, true).await
}

/// Tokens are kept in the user's data dir while a job runs, so that
/// `bookstrack watch JOB` can follow it without `--token`.
pub(crate) fn options() -> StreamOptions {
    StreamOptions {
        tokens: Arc::new(FileTokenStore::new(FileTokenStore::default_dir())),
        ..StreamOptions::default()
    }
}

pub async fn enrich(
    server: &str,
    isbns: Vec<String>,
    file: Option<&Path>,
    out: &OutputArgs,
) -> Result<ExitCode> {
    let mut books: Vec<Value> = isbns
        .into_iter()
        .map(|i| serde_json::json!({"title": "", "isbn": i}))
        .collect();
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)?;
        let listed: Vec<Value> = serde_json::from_str(&text)?;
        books.extend(listed);
    }
    if books.is_empty() {
        anyhow::bail!("nothing to enrich: give ISBNs or --file");
    }
    let client = Client::new(server)?;
    let started = client
        .start_enrichment(&serde_json::json!({"books": books}))
        .await?;
    if !out.json {
        eprintln!("job {} started", started.job_id);
    }
    let events = client.follow(&started, options());
    follow(&client, events, out, true).await
}

pub async fn scan(server: &str, photos: &[PathBuf], out: &OutputArgs) -> Result<ExitCode> {
    let client = Client::new(server)?;
    let started = client.start_scan(photos).await?;
    if !out.json {
        eprintln!("job {} started", started.job_id);
    }
    let events = client.follow(&started, options());
    follow(&client, events, out, true).await
}

pub async fn watch(
    server: &str,
    job_id: &str,
    token: Option<&str>,
    out: &OutputArgs,
) -> Result<ExitCode> {
    let client = Client::new(server)?;
    let opts = options();
    let token = match token {
        Some(t) => t.to_string(),
        None => match opts.tokens.get(job_id) {
            Some(t) => t.token,
            None => anyhow::bail!("no token kept for job {job_id}: pass --token"),
        },
    };
    let events = client.events(job_id, &token, opts);
    follow(&client, events, out, false).await
}

async fn follow(
    client: &Client,
    events: JobStream,
    out: &OutputArgs,
    summary: bool,
) -> Result<ExitCode> {
    let ended = follow_job(client, events, out, summary && !out.json).await?;
    if let Some((result, results)) = &ended.output {
        print_summary(result, results);
    }
    Ok(ended.code)
}

/// How a followed job ended: its exit code and, when it completed and its
/// output was asked for, its `result` and its results.
pub(crate) struct Ended {
    pub code: ExitCode,
    pub output: Option<(Map<String, Value>, Value)>,
}

impl Ended {
    fn exit(code: u8) -> Ended {
        Ended {
            code: ExitCode::from(code),
            output: None,
        }
    }
}

/// Shows a job's events until it ends; `fetch` also reads a completed
/// job's results.
pub(crate) async fn follow_job(
    client: &Client,
    mut events: JobStream,
    out: &OutputArgs,
    fetch: bool,
) -> Result<Ended> {
    let bar = (!out.json && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(bar_style());
        b
    });
    let mut outcome: Option<Envelope> = None;
    while let Some(ev) = events.next().await {
        let env = match ev {
            Ok(env) => env,
            Err(ClientError::GaveUp { attempts, last }) => {
                if let Some(b) = &bar {
                    b.abandon();
                }
                eprintln!("gave up after {attempts} reconnect attempts: {last}");
                return Ok(Ended::exit(EXIT_GAVE_UP));
            }
            Err(e) => return Err(e.into()),
        };
        if out.json {
            println!("{}", env.to_json());
        } else if let Some(b) = &bar {
            b.set_prefix(unit(env.pipeline()));
            render(b, env.payload());
        } else {
            println!("{}", plain(&env));
        }
        if env.payload().is_terminal() {
            outcome = Some(env);
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if events.reconnects > 0 && !out.json {
        eprintln!(
            "(the connection dropped; reconnected {} time(s) without losing an event)",
            events.reconnects
        );
    }
    let Some(end) = outcome else {
        return Ok(Ended::exit(EXIT_GAVE_UP));
    };
    match end.payload() {
        Payload::Error { error } => {
            eprintln!("job failed: {}: {}", error.code, error.message);
            Ok(Ended::exit(EXIT_FAILED))
        }
        Payload::JobComplete { result } => {
            let output = if fetch {
                let results = client.results(end.job_id(), events.token()).await?;
                Some((result.clone(), results))
            } else {
                None
            };
            Ok(Ended {
                code: ExitCode::SUCCESS,
                output,
            })
        }
        _ => Ok(Ended::exit(EXIT_FAILED)),
    }
}

pub(crate) fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{bar:40.cyan/blue} {pos}/{len} {prefix}  {per_sec}  eta {eta}  {wide_msg}",
    )
    .expect("valid template")
}

/// What a pipeline counts: an import its rows, the others their books.
pub(crate) fn unit(p: Pipeline) -> &'static str {
    match p {
        Pipeline::CsvImport => "rows",
        Pipeline::BatchEnrichment | Pipeline::AiScan => "books",
        Pipeline::Synthetic => "items",
    }
}

pub(crate) fn render(bar: &ProgressBar, p: &Payload) {
    match p {
        Payload::JobStarted { total_count } => bar.set_length(*total_count),
        Payload::JobProgress(u) => {
            if let Some(t) = u.total_books {
                bar.set_length(t);
            }
            bar.set_position(u.books_processed.unwrap_or(0));
            bar.set_message(u.current_title.clone().unwrap_or_else(|| u.status.clone()));
        }
        Payload::JobState { state } => {
            bar.set_length(state.total_count);
            bar.set_position(state.processed_count);
        }
        _ => {}
    }
}

pub(crate) fn plain(env: &Envelope) -> String {
    let seq = env.seq().map(|s| format!("#{s} ")).unwrap_or_default();
    match env.payload() {
        // A scan knows its books only once it has found them.
        Payload::JobStarted { total_count: 0 } => format!("{seq}started"),
        Payload::JobStarted { total_count } => {
            format!("{seq}started: {total_count} {}", unit(env.pipeline()))
        }
        Payload::JobProgress(u) => format!(
            "{seq}{:>5.1}% {}{}",
            u.progress * 100.0,
            u.status,
            u.current_title
                .as_deref()
                .map(|t| format!(" — {t}"))
                .unwrap_or_default()
        ),
        Payload::JobComplete { .. } => format!("{seq}complete"),
        Payload::Error { error } => format!("{seq}error {}: {}", error.code, error.message),
        Payload::JobState { state } => format!(
            "resynced: {} of {} processed ({})",
            state.processed_count,
            state.total_count,
            state.status.as_str()
        ),
        _ => String::new(),
    }
}

pub(crate) fn print_summary(result: &Map<String, Value>, results: &Value) {
    if let Some(books) = result.get("books").and_then(Value::as_array) {
        println!("books found: {}", books.len());
        for b in books {
            println!(
                "  {:>3.0}%  {}{}  (photo {})",
                b.get("confidence").and_then(Value::as_f64).unwrap_or(0.0) * 100.0,
                b.get("title").and_then(Value::as_str).unwrap_or(""),
                b.get("author")
                    .and_then(Value::as_str)
                    .map(|a| format!(" — {a}"))
                    .unwrap_or_default(),
                b.get("photo").and_then(Value::as_u64).unwrap_or(0)
            );
        }
    }
    let n = |k: &str| result.get(k).and_then(Value::as_u64).unwrap_or(0);
    println!("total       {}", n("totalBooks"));
    println!("succeeded   {}", n("successCount"));
    if result.contains_key("duplicates") {
        println!(
            "duplicates  {} (merged into an earlier row)",
            n("duplicates")
        );
    }
    println!("failed      {}", n("failureCount"));
    if let Some(errors) = results.get("errors").and_then(Value::as_array) {
        for e in errors {
            println!(
                "  row {}: {}",
                e.get("row").and_then(Value::as_u64).unwrap_or(0),
                e.get("message").and_then(Value::as_str).unwrap_or("")
            );
        }
    }
}
