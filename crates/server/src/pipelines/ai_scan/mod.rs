//! `ai_scan`: photos of a bookshelf in, the books on it out. Stages, each a
//! progress event: received, analysing, detected, matching.

pub mod gemini;
pub mod image;
pub mod matcher;
pub mod ocr;
mod tally;

use super::BuildError;
use crate::config::ScanConfig;
use crate::job::{JobContext, JobRunner, ProgressReport, Run, Stopped, Verdict};
use crate::store::LookupStore;
use matcher::{Known, Line};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tally::Tally;

/// Known books loaded to match against, at most.
const KNOWN_LIMIT: u64 = 50_000;

/// What reads the text off a shelf photo. Called on the blocking pool.
pub trait ScanProvider: Send + Sync {
    fn read(&self, photo: &Path, mime: &str) -> Result<Vec<Line>, String>;
}

impl ScanProvider for ocr::Ocr {
    fn read(&self, photo: &Path, _mime: &str) -> Result<Vec<Line>, String> {
        let scratch = photo.with_extension("scratch");
        std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
        let r = ocr::Ocr::read(self, photo, &scratch);
        let _ = std::fs::remove_dir_all(&scratch);
        r
    }
}

/// Gemini's client is async: it runs on the server's runtime.
struct GeminiOnRuntime(gemini::Gemini, tokio::runtime::Handle);

impl ScanProvider for GeminiOnRuntime {
    fn read(&self, photo: &Path, mime: &str) -> Result<Vec<Line>, String> {
        self.1.block_on(self.0.read(photo, mime))
    }
}

/// The provider `config` names.
pub fn provider(
    config: &ScanConfig,
    runtime: tokio::runtime::Handle,
) -> Result<Box<dyn ScanProvider>, String> {
    match config.provider.as_str() {
        "ocr" => Ok(Box::new(ocr::Ocr {
            binary: config.tesseract.clone(),
        })),
        "gemini" => Ok(Box::new(GeminiOnRuntime(
            gemini::Gemini {
                base: config.gemini_url.clone(),
                model: config.gemini_model.clone(),
                api_key: config
                    .gemini_api_key
                    .clone()
                    .ok_or("the gemini provider needs --gemini-api-key")?,
                timeout: config.timeout,
                retries: config.retries,
            },
            runtime,
        ))),
        other => Err(format!(
            "unknown scan provider {other:?}: use ocr or gemini"
        )),
    }
}

pub struct AiScan {
    photos: Vec<(PathBuf, String)>,
    provider: Box<dyn ScanProvider>,
    store: Arc<dyn LookupStore>,
    runtime: tokio::runtime::Handle,
}

/// The photos of a scan, spooled in the job's folder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AiScanSpec {
    /// File name in the job's folder, and its MIME type.
    pub photos: Vec<(String, String)>,
}

impl AiScan {
    /// `dir`: the job's spool folder, which must still hold every photo.
    pub fn build(
        spec: AiScanSpec,
        dir: Option<&Path>,
        config: &ScanConfig,
        store: Arc<dyn LookupStore>,
    ) -> Result<Self, BuildError> {
        let dir = dir.filter(|p| p.is_dir()).ok_or(BuildError::InputMissing)?;
        let photos = spec
            .photos
            .into_iter()
            .map(|(f, m)| (dir.join(f), m))
            .collect::<Vec<_>>();
        if photos.iter().any(|(p, _)| !p.exists()) {
            return Err(BuildError::InputMissing);
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| BuildError::BadParams("no runtime".into()))?;
        Ok(AiScan {
            photos,
            provider: provider(config, runtime.clone()).map_err(BuildError::BadParams)?,
            store,
            runtime,
        })
    }
}

fn report(status: String, processed: u64) -> ProgressReport {
    ProgressReport {
        status,
        processed,
        cursor: processed,
        ..Default::default()
    }
}

impl JobRunner for AiScan {
    fn start(self: Box<Self>, ctx: JobContext) -> Run {
        Run::Blocking(Box::new(move || self.run(&ctx)))
    }
}

impl AiScan {
    fn run(self, ctx: &JobContext) -> Result<Verdict, Stopped> {
        let n = self.photos.len();
        ctx.started(n as u64)?;
        let known: Vec<Known> = self
            .runtime
            .block_on(self.store.known_books(KNOWN_LIMIT))
            .unwrap_or_default()
            .iter()
            .filter_map(|j| Known::from_json(j))
            .collect();
        let start = ctx.resume.cursor as usize;
        let mut tally = Tally::resumed(ctx.resume.success, ctx.resume.failure);
        for (k, (photo, mime)) in self.photos.iter().enumerate().skip(start) {
            let (num, done) = (k + 1, k as u64);
            let mut r = report(format!("Photo {num} of {n} received"), done);
            r.success = tally.success;
            r.failure = tally.failure;
            ctx.progress(r.clone())?;
            r.status = format!("Analysing photo {num} of {n}");
            ctx.progress(r.clone())?;
            match self.provider.read(photo, mime) {
                Ok(lines) => {
                    r.status = format!("Detected {} candidates in photo {num} of {n}", lines.len());
                    ctx.progress(r.clone())?;
                    r.status = format!("Matching {num} of {n}");
                    let (found, sugg) = matcher::match_lines(&lines, &known, num);
                    tally.read(&mut r, found, sugg);
                }
                Err(e) => tally.unreadable(&mut r, num, n, e),
            }
            ctx.progress(r)?;
        }
        Ok(tally.verdict(n))
    }
}
