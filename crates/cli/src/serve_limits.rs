//! `bookstrack serve`'s resource limits of issue 17 (HTTP bodies, results
//! streams, shelf-scan decodes and OCR, upstream bodies, shutdown) and the
//! secrets read from files, so that a key need not appear in `ps`.
//! Defaults in `crates/server/src/config.rs`.

use anyhow::{Context, Result};
use bookstrack_server::config::{self, Config};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct LimitsArgs {
    /// `GET /api/jobs/{id}/results` answers streaming at once; past it 429.
    #[arg(long, env = "BOOKSTRACK_MAX_RESULTS_STREAMS", default_value_t = config::DEFAULT_MAX_RESULTS_STREAMS)]
    max_results_streams: usize,
    /// One multipart part's header block; past it 413.
    #[arg(long, env = "BOOKSTRACK_MAX_PART_HEADER_BYTES", default_value_t = config::DEFAULT_MAX_PART_HEADER_BYTES)]
    max_part_header_bytes: usize,
    /// A multipart text field such as `format`; past it 413.
    #[arg(long, env = "BOOKSTRACK_MAX_SMALL_FIELD_BYTES", default_value_t = config::DEFAULT_MAX_SMALL_FIELD_BYTES)]
    max_small_field_bytes: usize,
    /// A request body silent this long is ended with 408.
    #[arg(long, env = "BOOKSTRACK_BODY_IDLE_TIMEOUT_SECS", default_value_t = config::DEFAULT_BODY_IDLE_TIMEOUT_SECS)]
    body_idle_timeout_secs: u64,
    /// After SIGTERM, the longest the server waits for work in flight.
    #[arg(long, env = "BOOKSTRACK_SHUTDOWN_TIMEOUT_SECS", default_value_t = config::DEFAULT_SHUTDOWN_TIMEOUT_SECS)]
    shutdown_timeout_secs: u64,
    /// Bytes one job may write to its output; past it the job fails.
    #[arg(long, env = "BOOKSTRACK_MAX_IMPORT_OUTPUT_BYTES", default_value_t = config::DEFAULT_MAX_IMPORT_OUTPUT_BYTES)]
    max_import_output_bytes: u64,
    /// One upstream response body (enrichment providers, Gemini).
    #[arg(long, env = "BOOKSTRACK_MAX_UPSTREAM_BYTES", default_value_t = config::DEFAULT_MAX_UPSTREAM_BYTES)]
    max_upstream_bytes: usize,
    /// Width × height of one photo, read before decoding; past it 413.
    #[arg(long, env = "BOOKSTRACK_MAX_PHOTO_PIXELS", default_value_t = config::DEFAULT_MAX_PHOTO_PIXELS)]
    max_photo_pixels: u64,
    /// Photos decoded at once, server-wide.
    #[arg(long, env = "BOOKSTRACK_MAX_DECODES", default_value_t = config::DEFAULT_MAX_DECODES)]
    max_decodes: usize,
    /// Tesseract processes at once, server-wide.
    #[arg(long, env = "BOOKSTRACK_MAX_OCR_PROCESSES", default_value_t = config::DEFAULT_MAX_OCR_PROCESSES)]
    max_ocr_processes: usize,
    /// One Tesseract run; past it the process is killed and the photo fails.
    #[arg(long, env = "BOOKSTRACK_OCR_TIMEOUT_SECS", default_value_t = config::DEFAULT_OCR_TIMEOUT_SECS)]
    ocr_timeout_secs: u64,
    /// A file holding the Google Books API key (instead of `--google-books-api-key`).
    #[arg(
        long,
        env = "BOOKSTRACK_GOOGLE_BOOKS_API_KEY_FILE",
        conflicts_with = "google_books_api_key"
    )]
    google_books_api_key_file: Option<PathBuf>,
    /// A file holding the Gemini API key (instead of `--gemini-api-key`).
    #[arg(
        long,
        env = "BOOKSTRACK_GEMINI_API_KEY_FILE",
        conflicts_with = "gemini_api_key"
    )]
    gemini_api_key_file: Option<PathBuf>,
}

impl LimitsArgs {
    pub fn apply(&self, c: &mut Config) -> Result<()> {
        c.max_results_streams = self.max_results_streams.max(1);
        c.max_part_header_bytes = self.max_part_header_bytes;
        c.max_small_field_bytes = self.max_small_field_bytes;
        c.body_idle_timeout = Duration::from_secs(self.body_idle_timeout_secs.max(1));
        c.shutdown_timeout = Duration::from_secs(self.shutdown_timeout_secs);
        c.max_import_output_bytes = self.max_import_output_bytes;
        c.enrich.max_upstream_bytes = self.max_upstream_bytes;
        c.scan.max_upstream_bytes = self.max_upstream_bytes;
        c.scan.max_photo_pixels = self.max_photo_pixels;
        c.scan.max_decodes = self.max_decodes.max(1);
        c.scan.max_ocr_processes = self.max_ocr_processes.max(1);
        c.scan.ocr_timeout = Duration::from_secs(self.ocr_timeout_secs.max(1));
        if let Some(p) = &self.google_books_api_key_file {
            c.enrich.google_books_api_key = Some(secret(p)?);
        }
        if let Some(p) = &self.gemini_api_key_file {
            c.scan.gemini_api_key = Some(secret(p)?);
        }
        Ok(())
    }
}

/// A secret file's content, without the line end an editor adds.
fn secret(path: &Path) -> Result<String> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the key file {}", path.display()))?;
    let s = s.trim();
    anyhow::ensure!(!s.is_empty(), "the key file {} is empty", path.display());
    Ok(s.to_string())
}
