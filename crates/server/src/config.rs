//! Every limit and interval of the server, each a named default that a flag
//! (or `BOOKSTRACK_*` variable) can override.

use bookstrack_protocol::Pipeline;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::secret::Secret;

pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;
pub const DEFAULT_MAX_ROWS: u64 = 500_000;
/// One CSV field's bytes; a row with a longer one is a row error.
pub const DEFAULT_MAX_CSV_FIELD_BYTES: usize = 128 * 1024;
pub const DEFAULT_MAX_VIEWERS_PER_JOB: usize = 8;
/// Jobs one multiplexed socket (`/ws/jobs`) may follow at once.
pub const DEFAULT_MAX_JOBS_PER_SOCKET: usize = 256;
pub const DEFAULT_MAX_WS_MESSAGE_BYTES: usize = 64 * 1024;
pub const DEFAULT_EVENT_RETENTION: u64 = 1000;
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 7200;
pub const DEFAULT_TOKEN_REFRESH_WINDOW_SECS: u64 = 1800;
pub const DEFAULT_READY_TIMEOUT_SECS: u64 = 30;
pub const DEFAULT_JOB_RETENTION_SECS: u64 = 24 * 3600;
pub const DEFAULT_WS_PING_INTERVAL_SECS: u64 = 30;
pub const DEFAULT_WS_PONG_TIMEOUT_SECS: u64 = 10;
/// Replies (pongs, `ready_ack`, notices) one socket's client may leave
/// unread before the socket is closed with 1008 (docs/PROTOCOL.md §17).
pub const DEFAULT_MAX_UNREAD_REPLIES: usize = 256;
/// WebSockets the server holds at once (`/ws/progress` and `/ws/jobs`).
pub const DEFAULT_MAX_SOCKETS: usize = 19_000;
/// WebSockets one client address holds at once.
pub const DEFAULT_MAX_SOCKETS_PER_CLIENT: usize = 1_000;
/// Frames a viewer may have queued before its progress events are coalesced.
pub const DEFAULT_VIEWER_QUEUE: usize = 64;
/// Recent frames each live job keeps in memory to serve resumes without a read.
pub const DEFAULT_REPLAY_CACHE: usize = 256;
pub const DEFAULT_MAX_RUNNING_JOBS: usize = 4;
/// `GET /api/jobs/{id}/results` answers streaming at once (each holds a
/// store reader for a moment per page, `http/results.rs`).
pub const DEFAULT_MAX_RESULTS_STREAMS: usize = 8;
/// One multipart part's header block (`http/multipart.rs`).
pub const DEFAULT_MAX_PART_HEADER_BYTES: usize = 8192;
/// A multipart text field such as `format`, read into memory.
pub const DEFAULT_MAX_SMALL_FIELD_BYTES: usize = 64 * 1024;
/// A request body that sends nothing for this long is ended with 408.
pub const DEFAULT_BODY_IDLE_TIMEOUT_SECS: u64 = 30;
/// After SIGTERM, how long requests, sockets and owners may take to finish.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
/// Bytes one job may write to its output (books, duplicates, row errors).
pub const DEFAULT_MAX_IMPORT_OUTPUT_BYTES: u64 = 512 * 1024 * 1024;
/// Jobs not yet ended (queued or running) one client address may hold.
pub const DEFAULT_MAX_JOBS_PER_CLIENT: usize = 20;
/// Jobs not yet ended on the whole server.
pub const DEFAULT_MAX_ACTIVE_JOBS: usize = 1000;
/// Jobs one client address may start per second, on average…
pub const DEFAULT_JOB_START_RATE: f64 = 1.0;
/// …and at once.
pub const DEFAULT_JOB_START_BURST: usize = 20;
/// Job tokens one request may present in `X-Bookstrack-Job-Tokens`.
pub const DEFAULT_MAX_PRESENTED_TOKENS: usize = 32;

/// When the job owner writes its state: every `updates` progress updates or
/// `interval`, whichever comes first (docs/PROTOCOL.md §5.4), and always at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub updates: u64,
    pub interval: Duration,
}

impl Throttle {
    pub fn for_pipeline(p: Pipeline) -> Throttle {
        match p {
            Pipeline::BatchEnrichment => Throttle {
                updates: 5,
                interval: Duration::from_secs(10),
            },
            // Synthetic jobs load-test the import's pace.
            Pipeline::CsvImport | Pipeline::AiScan | Pipeline::Synthetic => Throttle {
                updates: 20,
                interval: Duration::from_secs(30),
            },
        }
    }
}

pub const DEFAULT_MAX_ENRICH_BOOKS: usize = 10_000;
pub const DEFAULT_OPENLIBRARY_URL: &str = "https://openlibrary.org";
pub const DEFAULT_GOOGLE_BOOKS_URL: &str = "https://www.googleapis.com/books/v1";
pub const DEFAULT_OPENLIBRARY_RATE: f64 = 3.0;
pub const DEFAULT_GOOGLE_BOOKS_RATE: f64 = 5.0;
pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_HTTP_RETRIES: usize = 3;
pub const DEFAULT_HTTP_IN_FLIGHT: usize = 4;
pub const DEFAULT_PROVIDERS: &str = "cache,catalog,openlibrary,googlebooks";
/// One upstream response body (enrichment providers, Gemini).
pub const DEFAULT_MAX_UPSTREAM_BYTES: usize = 4 * 1024 * 1024;

/// Where enrichment looks, and how politely.
#[derive(Debug, Clone)]
pub struct EnrichConfig {
    /// In order; of `cache`, `catalog`, `openlibrary`, `googlebooks`.
    pub providers: Vec<String>,
    /// Only the cache and the local catalog: no request leaves the machine.
    pub offline: bool,
    pub openlibrary_url: String,
    pub google_books_url: String,
    pub google_books_api_key: Option<String>,
    /// Goes in the User-Agent, as Open Library asks of API clients.
    pub contact: String,
    pub openlibrary_rate: f64,
    pub google_books_rate: f64,
    pub timeout: Duration,
    pub retries: usize,
    pub max_in_flight: usize,
    pub max_books: usize,
    /// One provider response's body; past it the lookup fails.
    pub max_upstream_bytes: usize,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        EnrichConfig {
            providers: DEFAULT_PROVIDERS.split(',').map(str::to_string).collect(),
            offline: false,
            openlibrary_url: DEFAULT_OPENLIBRARY_URL.into(),
            google_books_url: DEFAULT_GOOGLE_BOOKS_URL.into(),
            google_books_api_key: None,
            contact: "self-hosted; set --contact".into(),
            openlibrary_rate: DEFAULT_OPENLIBRARY_RATE,
            google_books_rate: DEFAULT_GOOGLE_BOOKS_RATE,
            timeout: Duration::from_secs(DEFAULT_HTTP_TIMEOUT_SECS),
            retries: DEFAULT_HTTP_RETRIES,
            max_in_flight: DEFAULT_HTTP_IN_FLIGHT,
            max_books: DEFAULT_MAX_ENRICH_BOOKS,
            max_upstream_bytes: DEFAULT_MAX_UPSTREAM_BYTES,
        }
    }
}

pub const DEFAULT_MAX_PHOTOS: usize = 10;
pub const DEFAULT_MAX_PHOTO_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_GEMINI_URL: &str = "https://generativelanguage.googleapis.com";
pub const DEFAULT_GEMINI_MODEL: &str = "gemini-2.0-flash";
/// Width × height of one photo, read from its header before decoding.
pub const DEFAULT_MAX_PHOTO_PIXELS: u64 = 14_000_000;
/// Photos decoded at once, server-wide (a decode holds width × height × 4 bytes).
pub const DEFAULT_MAX_DECODES: usize = 1;
/// Tesseract processes at once, server-wide.
pub const DEFAULT_MAX_OCR_PROCESSES: usize = 4;
/// One Tesseract run; past it the child is killed and the photo fails.
pub const DEFAULT_OCR_TIMEOUT_SECS: u64 = 60;

/// How shelf photos are read.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// `ocr` (Tesseract, offline) or `gemini`.
    pub provider: String,
    pub tesseract: PathBuf,
    pub gemini_url: String,
    pub gemini_model: String,
    pub gemini_api_key: Option<String>,
    pub timeout: Duration,
    pub retries: usize,
    pub max_photos: usize,
    pub max_photo_bytes: u64,
    pub max_photo_pixels: u64,
    pub max_decodes: usize,
    pub max_ocr_processes: usize,
    pub ocr_timeout: Duration,
    /// One Gemini response's body.
    pub max_upstream_bytes: usize,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            provider: "ocr".into(),
            tesseract: "tesseract".into(),
            gemini_url: DEFAULT_GEMINI_URL.into(),
            gemini_model: DEFAULT_GEMINI_MODEL.into(),
            gemini_api_key: None,
            timeout: Duration::from_secs(60),
            retries: 2,
            max_photos: DEFAULT_MAX_PHOTOS,
            max_photo_bytes: DEFAULT_MAX_PHOTO_BYTES,
            max_photo_pixels: DEFAULT_MAX_PHOTO_PIXELS,
            max_decodes: DEFAULT_MAX_DECODES,
            max_ocr_processes: DEFAULT_MAX_OCR_PROCESSES,
            ocr_timeout: Duration::from_secs(DEFAULT_OCR_TIMEOUT_SECS),
            max_upstream_bytes: DEFAULT_MAX_UPSTREAM_BYTES,
        }
    }
}

pub const DEFAULT_MAX_PUBLISH_EVENTS: usize = 100;
pub const DEFAULT_MAX_PUBLISH_EVENT_BYTES: usize = 64 * 1024;
pub const DEFAULT_MAX_PUBLISH_REQUEST_BYTES: usize = 1024 * 1024;
pub const DEFAULT_PUBLISH_RATE: f64 = 100.0;
pub const DEFAULT_MAX_EXTERNAL_JOBS_PER_CLIENT: usize = 100;
pub const DEFAULT_PUBLISHER_TIMEOUT_SECS: u64 = 300;
pub const DEFAULT_PUBLISHER_KEY_TTL_SECS: u64 = 24 * 3600;

/// External jobs and their publishers (docs/PROTOCOL.md §21).
#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// Events in one publish request.
    pub max_events: usize,
    /// One event's JSON, as sent.
    pub max_event_bytes: usize,
    /// One publish request's body.
    pub max_request_bytes: usize,
    /// Events per second one job may be sent, on average; a burst of
    /// twice `max_events` is allowed.
    pub rate_per_job: f64,
    /// External jobs not yet ended that one client address may hold.
    pub max_jobs_per_client: usize,
    /// A job whose publisher sends nothing for this long fails.
    pub publisher_timeout: Duration,
    pub publisher_key_ttl: Duration,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            max_events: DEFAULT_MAX_PUBLISH_EVENTS,
            max_event_bytes: DEFAULT_MAX_PUBLISH_EVENT_BYTES,
            max_request_bytes: DEFAULT_MAX_PUBLISH_REQUEST_BYTES,
            rate_per_job: DEFAULT_PUBLISH_RATE,
            max_jobs_per_client: DEFAULT_MAX_EXTERNAL_JOBS_PER_CLIENT,
            publisher_timeout: Duration::from_secs(DEFAULT_PUBLISHER_TIMEOUT_SECS),
            publisher_key_ttl: Duration::from_secs(DEFAULT_PUBLISHER_KEY_TTL_SECS),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub max_upload_bytes: u64,
    pub max_rows: u64,
    pub max_csv_field_bytes: usize,
    pub max_viewers_per_job: usize,
    pub max_jobs_per_socket: usize,
    pub max_ws_message_bytes: usize,
    pub event_retention: u64,
    pub token_ttl: Duration,
    pub token_refresh_window: Duration,
    pub ready_timeout: Duration,
    pub job_retention: Duration,
    pub ws_ping_interval: Duration,
    pub ws_pong_timeout: Duration,
    pub max_unread_replies: usize,
    pub max_sockets: usize,
    pub max_sockets_per_client: usize,
    pub viewer_queue: usize,
    pub replay_cache: usize,
    pub max_running_jobs: usize,
    pub max_results_streams: usize,
    pub max_part_header_bytes: usize,
    pub max_small_field_bytes: usize,
    pub body_idle_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub max_import_output_bytes: u64,
    /// Per-pipeline throttles; `None` uses those of docs/PROTOCOL.md §5.4.
    pub throttle_override: Option<Throttle>,
    pub enrich: EnrichConfig,
    pub scan: ScanConfig,
    pub publish: PublishConfig,
    /// Mounts `POST /api/synthetic/jobs`, for load generators only.
    pub synthetic_jobs: bool,
    /// Required of every job-creating request when set (`access/credential.rs`).
    pub api_key: Option<Secret>,
    /// Required of `/metrics` when set.
    pub metrics_token: Option<Secret>,
    /// The job quotas (`access/admission.rs`).
    pub max_jobs_per_client: usize,
    pub max_active_jobs: usize,
    pub job_start_rate: f64,
    pub job_start_burst: usize,
    pub max_presented_tokens: usize,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_rows: DEFAULT_MAX_ROWS,
            max_csv_field_bytes: DEFAULT_MAX_CSV_FIELD_BYTES,
            max_viewers_per_job: DEFAULT_MAX_VIEWERS_PER_JOB,
            max_jobs_per_socket: DEFAULT_MAX_JOBS_PER_SOCKET,
            max_ws_message_bytes: DEFAULT_MAX_WS_MESSAGE_BYTES,
            event_retention: DEFAULT_EVENT_RETENTION,
            token_ttl: Duration::from_secs(DEFAULT_TOKEN_TTL_SECS),
            token_refresh_window: Duration::from_secs(DEFAULT_TOKEN_REFRESH_WINDOW_SECS),
            ready_timeout: Duration::from_secs(DEFAULT_READY_TIMEOUT_SECS),
            job_retention: Duration::from_secs(DEFAULT_JOB_RETENTION_SECS),
            ws_ping_interval: Duration::from_secs(DEFAULT_WS_PING_INTERVAL_SECS),
            ws_pong_timeout: Duration::from_secs(DEFAULT_WS_PONG_TIMEOUT_SECS),
            max_unread_replies: DEFAULT_MAX_UNREAD_REPLIES,
            max_sockets: DEFAULT_MAX_SOCKETS,
            max_sockets_per_client: DEFAULT_MAX_SOCKETS_PER_CLIENT,
            viewer_queue: DEFAULT_VIEWER_QUEUE,
            replay_cache: DEFAULT_REPLAY_CACHE,
            max_running_jobs: DEFAULT_MAX_RUNNING_JOBS,
            max_results_streams: DEFAULT_MAX_RESULTS_STREAMS,
            max_part_header_bytes: DEFAULT_MAX_PART_HEADER_BYTES,
            max_small_field_bytes: DEFAULT_MAX_SMALL_FIELD_BYTES,
            body_idle_timeout: Duration::from_secs(DEFAULT_BODY_IDLE_TIMEOUT_SECS),
            shutdown_timeout: Duration::from_secs(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
            max_import_output_bytes: DEFAULT_MAX_IMPORT_OUTPUT_BYTES,
            throttle_override: None,
            enrich: EnrichConfig::default(),
            scan: ScanConfig::default(),
            publish: PublishConfig::default(),
            synthetic_jobs: false,
            api_key: None,
            metrics_token: None,
            max_jobs_per_client: DEFAULT_MAX_JOBS_PER_CLIENT,
            max_active_jobs: DEFAULT_MAX_ACTIVE_JOBS,
            job_start_rate: DEFAULT_JOB_START_RATE,
            job_start_burst: DEFAULT_JOB_START_BURST,
            max_presented_tokens: DEFAULT_MAX_PRESENTED_TOKENS,
        }
    }

    pub fn throttle(&self, p: Pipeline) -> Throttle {
        self.throttle_override
            .unwrap_or_else(|| Throttle::for_pipeline(p))
    }

    /// What the socket fan-out (`crate::hub`) needs of this configuration.
    pub fn hub_timing(&self) -> crate::hub::Timing {
        crate::hub::Timing {
            ping_interval: self.ws_ping_interval,
            pong_timeout: self.ws_pong_timeout,
            max_message: self.max_ws_message_bytes,
            max_unread_replies: self.max_unread_replies,
        }
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("bookstrack.sqlite3")
    }
}
