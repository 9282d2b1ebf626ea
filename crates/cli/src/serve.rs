use crate::watch;
use anyhow::{Context, Result};
use bookstrack_server::config::{self, Config};
use bookstrack_server::{Server, Shutdown};
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The bundled example for `bookstrack demo` with no file.
const SAMPLE_CSV: &str = include_str!("../examples-data/goodreads_sample.csv");

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[arg(long, env = "BOOKSTRACK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[arg(long, env = "BOOKSTRACK_DATA_DIR", default_value = "bookstrack-data")]
    data_dir: PathBuf,
    #[arg(long, env = "BOOKSTRACK_MAX_UPLOAD_BYTES", default_value_t = config::DEFAULT_MAX_UPLOAD_BYTES)]
    max_upload_bytes: u64,
    #[arg(long, env = "BOOKSTRACK_MAX_ROWS", default_value_t = config::DEFAULT_MAX_ROWS)]
    max_rows: u64,
    /// One CSV field's bytes; a row with a longer one is a row error.
    #[arg(long, env = "BOOKSTRACK_MAX_CSV_FIELD_BYTES", default_value_t = config::DEFAULT_MAX_CSV_FIELD_BYTES)]
    max_csv_field_bytes: usize,
    #[arg(long, env = "BOOKSTRACK_MAX_VIEWERS_PER_JOB", default_value_t = config::DEFAULT_MAX_VIEWERS_PER_JOB)]
    max_viewers_per_job: usize,
    /// Jobs one multiplexed socket (`/ws/jobs`) may follow at once.
    #[arg(long, env = "BOOKSTRACK_MAX_JOBS_PER_SOCKET", default_value_t = config::DEFAULT_MAX_JOBS_PER_SOCKET)]
    max_jobs_per_socket: usize,
    #[arg(long, env = "BOOKSTRACK_MAX_WS_MESSAGE_BYTES", default_value_t = config::DEFAULT_MAX_WS_MESSAGE_BYTES)]
    max_ws_message_bytes: usize,
    #[arg(long, env = "BOOKSTRACK_EVENT_RETENTION", default_value_t = config::DEFAULT_EVENT_RETENTION)]
    event_retention: u64,
    #[arg(long, env = "BOOKSTRACK_TOKEN_TTL_SECS", default_value_t = config::DEFAULT_TOKEN_TTL_SECS)]
    token_ttl_secs: u64,
    #[arg(long, env = "BOOKSTRACK_TOKEN_REFRESH_WINDOW_SECS", default_value_t = config::DEFAULT_TOKEN_REFRESH_WINDOW_SECS)]
    token_refresh_window_secs: u64,
    #[arg(long, env = "BOOKSTRACK_READY_TIMEOUT_SECS", default_value_t = config::DEFAULT_READY_TIMEOUT_SECS)]
    ready_timeout_secs: u64,
    #[arg(long, env = "BOOKSTRACK_JOB_RETENTION_SECS", default_value_t = config::DEFAULT_JOB_RETENTION_SECS)]
    job_retention_secs: u64,
    #[arg(long, env = "BOOKSTRACK_WS_PING_INTERVAL_SECS", default_value_t = config::DEFAULT_WS_PING_INTERVAL_SECS)]
    ws_ping_interval_secs: u64,
    /// A socket that does not answer a ping within this is closed (1001).
    #[arg(long, env = "BOOKSTRACK_WS_PONG_TIMEOUT_SECS", default_value_t = config::DEFAULT_WS_PONG_TIMEOUT_SECS)]
    ws_pong_timeout_secs: u64,
    /// Replies a socket's client may leave unread before it is closed (1008).
    #[arg(long, env = "BOOKSTRACK_MAX_UNREAD_REPLIES", default_value_t = config::DEFAULT_MAX_UNREAD_REPLIES)]
    max_unread_replies: usize,
    /// WebSockets held at once; past it an upgrade gets 503.
    #[arg(long, env = "BOOKSTRACK_MAX_SOCKETS", default_value_t = config::DEFAULT_MAX_SOCKETS)]
    max_sockets: usize,
    /// WebSockets one client address holds at once; past it 429.
    #[arg(long, env = "BOOKSTRACK_MAX_SOCKETS_PER_CLIENT", default_value_t = config::DEFAULT_MAX_SOCKETS_PER_CLIENT)]
    max_sockets_per_client: usize,
    #[arg(long, env = "BOOKSTRACK_VIEWER_QUEUE", default_value_t = config::DEFAULT_VIEWER_QUEUE)]
    viewer_queue: usize,
    #[arg(long, env = "BOOKSTRACK_MAX_RUNNING_JOBS", default_value_t = config::DEFAULT_MAX_RUNNING_JOBS)]
    max_running_jobs: usize,
    /// Mount `POST /api/synthetic/jobs`, which starts jobs without input:
    /// for load tests (`bookstrack-bench`) only.
    #[arg(long, env = "BOOKSTRACK_ENABLE_SYNTHETIC_JOBS")]
    enable_synthetic_jobs: bool,
    #[command(flatten)]
    enrich: EnrichArgs,
    #[command(flatten)]
    limits: crate::serve_limits::LimitsArgs,
    #[command(flatten)]
    scan: ScanArgs,
    #[command(flatten)]
    publish: PublishLimits,
    #[command(flatten)]
    access: AccessArgs,
}

/// Who may start jobs, and how many (`crates/server/src/access/`).
#[derive(Args, Debug, Clone)]
pub struct AccessArgs {
    /// A file holding the API key every job-creating request must send as
    /// `Authorization: Bearer <key>`. Also `BOOKSTRACK_API_KEY` (the key
    /// itself); never a flag with the key, which `ps` would show.
    #[arg(long, env = "BOOKSTRACK_API_KEY_FILE")]
    api_key_file: Option<PathBuf>,
    /// A file holding the token `/metrics` requires as a bearer; also
    /// `BOOKSTRACK_METRICS_TOKEN`.
    #[arg(long, env = "BOOKSTRACK_METRICS_TOKEN_FILE")]
    metrics_token_file: Option<PathBuf>,
    /// Jobs not yet ended (queued or running) one client address may hold.
    #[arg(long, env = "BOOKSTRACK_MAX_JOBS_PER_CLIENT", default_value_t = config::DEFAULT_MAX_JOBS_PER_CLIENT)]
    max_jobs_per_client: usize,
    /// Jobs not yet ended on the whole server.
    #[arg(long, env = "BOOKSTRACK_MAX_ACTIVE_JOBS", default_value_t = config::DEFAULT_MAX_ACTIVE_JOBS)]
    max_active_jobs: usize,
    /// Jobs one client address may start per second, on average.
    #[arg(long, env = "BOOKSTRACK_JOB_START_RATE", default_value_t = config::DEFAULT_JOB_START_RATE)]
    job_start_rate: f64,
    /// Jobs one client address may start at once, before the rate applies.
    #[arg(long, env = "BOOKSTRACK_JOB_START_BURST", default_value_t = config::DEFAULT_JOB_START_BURST)]
    job_start_burst: usize,
    /// Job tokens one request may present in `X-Bookstrack-Job-Tokens`.
    #[arg(long, env = "BOOKSTRACK_MAX_PRESENTED_TOKENS", default_value_t = config::DEFAULT_MAX_PRESENTED_TOKENS)]
    max_presented_tokens: usize,
}

/// A secret from its file, else from the variable `env`; an error for both
/// at once, for an unreadable file and for a blank value.
fn secret(file: Option<&Path>, env: &str) -> Result<Option<config::Secret>> {
    let from_env = std::env::var(env).ok();
    let (text, source) = match (file, from_env) {
        (Some(_), Some(_)) => anyhow::bail!("set the file or {env}, not both"),
        (Some(f), None) => (
            std::fs::read_to_string(f)
                .with_context(|| format!("could not read {}", f.display()))?,
            f.display().to_string(),
        ),
        (None, Some(v)) => (v, env.to_string()),
        (None, None) => return Ok(None),
    };
    config::Secret::new(&text)
        .map(Some)
        .with_context(|| format!("{source} is empty"))
}

impl AccessArgs {
    fn apply(&self, c: &mut Config) -> Result<()> {
        c.api_key = secret(self.api_key_file.as_deref(), "BOOKSTRACK_API_KEY")?;
        c.metrics_token = secret(
            self.metrics_token_file.as_deref(),
            "BOOKSTRACK_METRICS_TOKEN",
        )?;
        c.max_jobs_per_client = self.max_jobs_per_client;
        c.max_active_jobs = self.max_active_jobs;
        c.job_start_rate = self.job_start_rate;
        c.job_start_burst = self.job_start_burst;
        c.max_presented_tokens = self.max_presented_tokens;
        Ok(())
    }
}

/// External jobs and their publishers (docs/PROTOCOL.md §21).
#[derive(Args, Debug, Clone)]
pub struct PublishLimits {
    #[arg(long, env = "BOOKSTRACK_MAX_PUBLISH_EVENTS", default_value_t = config::DEFAULT_MAX_PUBLISH_EVENTS)]
    max_publish_events: usize,
    #[arg(long, env = "BOOKSTRACK_MAX_PUBLISH_EVENT_BYTES", default_value_t = config::DEFAULT_MAX_PUBLISH_EVENT_BYTES)]
    max_publish_event_bytes: usize,
    #[arg(long, env = "BOOKSTRACK_MAX_PUBLISH_REQUEST_BYTES", default_value_t = config::DEFAULT_MAX_PUBLISH_REQUEST_BYTES)]
    max_publish_request_bytes: usize,
    /// Events per second one external job may be sent.
    #[arg(long, env = "BOOKSTRACK_PUBLISH_RATE", default_value_t = config::DEFAULT_PUBLISH_RATE)]
    publish_rate: f64,
    #[arg(long, env = "BOOKSTRACK_MAX_EXTERNAL_JOBS_PER_CLIENT", default_value_t = config::DEFAULT_MAX_EXTERNAL_JOBS_PER_CLIENT)]
    max_external_jobs_per_client: usize,
    /// An external job whose publisher sends nothing for this long fails.
    #[arg(long, env = "BOOKSTRACK_PUBLISHER_TIMEOUT_SECS", default_value_t = config::DEFAULT_PUBLISHER_TIMEOUT_SECS)]
    publisher_timeout_secs: u64,
    #[arg(long, env = "BOOKSTRACK_PUBLISHER_KEY_TTL_SECS", default_value_t = config::DEFAULT_PUBLISHER_KEY_TTL_SECS)]
    publisher_key_ttl_secs: u64,
}

impl PublishLimits {
    fn apply(&self, p: &mut config::PublishConfig) {
        p.max_events = self.max_publish_events.max(1);
        p.max_event_bytes = self.max_publish_event_bytes;
        p.max_request_bytes = self.max_publish_request_bytes;
        p.rate_per_job = self.publish_rate;
        p.max_jobs_per_client = self.max_external_jobs_per_client;
        p.publisher_timeout = Duration::from_secs(self.publisher_timeout_secs.max(1));
        p.publisher_key_ttl = Duration::from_secs(self.publisher_key_ttl_secs);
    }
}

/// How shelf photos are read.
#[derive(Args, Debug, Clone)]
pub struct ScanArgs {
    /// `ocr` (Tesseract, offline) or `gemini`.
    #[arg(long, env = "BOOKSTRACK_SCAN_PROVIDER", default_value = "ocr")]
    scan_provider: String,
    #[arg(long, env = "BOOKSTRACK_TESSERACT", default_value = "tesseract")]
    tesseract: PathBuf,
    #[arg(long, env = "BOOKSTRACK_GEMINI_URL", default_value = config::DEFAULT_GEMINI_URL)]
    gemini_url: String,
    #[arg(long, env = "BOOKSTRACK_GEMINI_MODEL", default_value = config::DEFAULT_GEMINI_MODEL)]
    gemini_model: String,
    #[arg(long, env = "BOOKSTRACK_GEMINI_API_KEY", hide_env_values = true)]
    gemini_api_key: Option<String>,
    #[arg(long, env = "BOOKSTRACK_MAX_PHOTOS", default_value_t = config::DEFAULT_MAX_PHOTOS)]
    max_photos: usize,
    #[arg(long, env = "BOOKSTRACK_MAX_PHOTO_BYTES", default_value_t = config::DEFAULT_MAX_PHOTO_BYTES)]
    max_photo_bytes: u64,
}

impl ScanArgs {
    fn apply(&self, s: &mut config::ScanConfig) {
        s.provider = self.scan_provider.clone();
        s.tesseract = self.tesseract.clone();
        s.gemini_url = self.gemini_url.clone();
        s.gemini_model = self.gemini_model.clone();
        s.gemini_api_key = self.gemini_api_key.clone();
        s.max_photos = self.max_photos;
        s.max_photo_bytes = self.max_photo_bytes;
    }
}

/// Where enrichment looks, and how politely.
#[derive(Args, Debug, Clone)]
pub struct EnrichArgs {
    /// Metadata sources in the order they are asked.
    #[arg(long, env = "BOOKSTRACK_ENRICH_PROVIDERS", default_value = config::DEFAULT_PROVIDERS)]
    enrich_providers: String,
    /// Use only the cache and the local catalog: no request leaves the machine.
    #[arg(long, env = "BOOKSTRACK_ENRICH_OFFLINE")]
    enrich_offline: bool,
    #[arg(long, env = "BOOKSTRACK_OPENLIBRARY_URL", default_value = config::DEFAULT_OPENLIBRARY_URL)]
    openlibrary_url: String,
    #[arg(long, env = "BOOKSTRACK_OPENLIBRARY_RATE", default_value_t = config::DEFAULT_OPENLIBRARY_RATE)]
    openlibrary_rate: f64,
    #[arg(long, env = "BOOKSTRACK_GOOGLE_BOOKS_URL", default_value = config::DEFAULT_GOOGLE_BOOKS_URL)]
    google_books_url: String,
    #[arg(long, env = "BOOKSTRACK_GOOGLE_BOOKS_API_KEY", hide_env_values = true)]
    google_books_api_key: Option<String>,
    #[arg(long, env = "BOOKSTRACK_GOOGLE_BOOKS_RATE", default_value_t = config::DEFAULT_GOOGLE_BOOKS_RATE)]
    google_books_rate: f64,
    /// Contact for the User-Agent (an e-mail address or URL).
    #[arg(long, env = "BOOKSTRACK_CONTACT")]
    contact: Option<String>,
    #[arg(long, env = "BOOKSTRACK_HTTP_TIMEOUT_SECS", default_value_t = config::DEFAULT_HTTP_TIMEOUT_SECS)]
    http_timeout_secs: u64,
    #[arg(long, env = "BOOKSTRACK_HTTP_RETRIES", default_value_t = config::DEFAULT_HTTP_RETRIES)]
    http_retries: usize,
    #[arg(long, env = "BOOKSTRACK_HTTP_IN_FLIGHT", default_value_t = config::DEFAULT_HTTP_IN_FLIGHT)]
    http_in_flight: usize,
    #[arg(long, env = "BOOKSTRACK_MAX_ENRICH_BOOKS", default_value_t = config::DEFAULT_MAX_ENRICH_BOOKS)]
    max_enrich_books: usize,
}

impl EnrichArgs {
    fn apply(&self, e: &mut config::EnrichConfig) {
        e.providers = self
            .enrich_providers
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        e.offline = self.enrich_offline;
        e.openlibrary_url = self.openlibrary_url.clone();
        e.openlibrary_rate = self.openlibrary_rate;
        e.google_books_url = self.google_books_url.clone();
        e.google_books_api_key = self.google_books_api_key.clone();
        e.google_books_rate = self.google_books_rate;
        if let Some(c) = &self.contact {
            e.contact = c.clone();
        }
        e.timeout = Duration::from_secs(self.http_timeout_secs.max(1));
        e.retries = self.http_retries;
        e.max_in_flight = self.http_in_flight;
        e.max_books = self.max_enrich_books;
    }
}

impl ServeArgs {
    fn config(&self) -> Result<Config> {
        let mut c = Config::new(&self.data_dir);
        c.max_upload_bytes = self.max_upload_bytes;
        c.max_rows = self.max_rows;
        c.max_csv_field_bytes = self.max_csv_field_bytes;
        c.max_viewers_per_job = self.max_viewers_per_job;
        c.max_jobs_per_socket = self.max_jobs_per_socket;
        c.max_ws_message_bytes = self.max_ws_message_bytes;
        c.event_retention = self.event_retention;
        c.token_ttl = Duration::from_secs(self.token_ttl_secs);
        c.token_refresh_window = Duration::from_secs(self.token_refresh_window_secs);
        c.ready_timeout = Duration::from_secs(self.ready_timeout_secs);
        c.job_retention = Duration::from_secs(self.job_retention_secs);
        c.ws_ping_interval = Duration::from_secs(self.ws_ping_interval_secs.max(1));
        c.ws_pong_timeout = Duration::from_secs(self.ws_pong_timeout_secs.max(1));
        c.max_unread_replies = self.max_unread_replies.max(1);
        c.max_sockets = self.max_sockets;
        c.max_sockets_per_client = self.max_sockets_per_client;
        c.viewer_queue = self.viewer_queue;
        c.max_running_jobs = self.max_running_jobs;
        c.synthetic_jobs = self.enable_synthetic_jobs;
        self.enrich.apply(&mut c.enrich);
        self.scan.apply(&mut c.scan);
        self.publish.apply(&mut c.publish);
        self.access.apply(&mut c)?;
        Ok(c)
    }
}

/// Cancels `token` on ctrl-c or SIGTERM.
fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        token.cancel();
    });
}

pub async fn serve(args: ServeArgs) -> Result<()> {
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    let mut config = args.config()?;
    args.limits.apply(&mut config)?;
    let server = Server::bind(config, args.listen, cancel)
        .await
        .context("could not start the server")?;
    println!("listening on http://{}", server.local_addr());
    if server.run().await? == Shutdown::DeadlinePassed {
        // Dropping the runtime would wait for blocking tasks still running
        // (a Tesseract run, a scan): the deadline is the operator's.
        eprintln!("shutdown deadline passed; exiting with work in flight");
        std::process::exit(1);
    }
    Ok(())
}

pub async fn demo(file: Option<PathBuf>, out: &watch::OutputArgs) -> Result<ExitCode> {
    let dir = tempfile::tempdir().context("could not create a temporary data dir")?;
    let file = match file {
        Some(f) => f,
        None => {
            let p = dir.path().join("goodreads_library_export.csv");
            std::fs::write(&p, SAMPLE_CSV)?;
            p
        }
    };
    let cancel = CancellationToken::new();
    let config = Config::new(dir.path().join("data"));
    let server = Server::bind(config, "127.0.0.1:0".parse()?, cancel.clone()).await?;
    let url = format!("http://{}", server.local_addr());
    eprintln!("embedded server on {url}");
    let running = tokio::spawn(server.run());
    let code = watch::import(&url, &file, out).await;
    cancel.cancel();
    running.await??;
    code
}
