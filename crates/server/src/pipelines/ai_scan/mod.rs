//! `ai_scan`: photos of a bookshelf in, the books on it out. Stages, each a
//! progress event: received, analysing, detected, matching.

pub mod gemini;
pub mod image;
pub mod matcher;
pub mod ocr;

use super::BuildError;
use crate::config::ScanConfig;
use crate::job::{JobContext, JobFailure, JobRunner, ProgressReport, Run, Stopped, Verdict};
use crate::store::{Item, LookupStore};
use bookstrack_protocol::{ErrorCode, RowError};
use matcher::{Detected, Known, Line};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        let (mut success, mut failure) = (ctx.resume.success, ctx.resume.failure);
        // Photos done before a restart have their results stored already.
        let (mut books, mut suggestions, mut failed): (Vec<Detected>, Vec<Detected>, Vec<Value>) =
            (Vec::new(), Vec::new(), Vec::new());
        for (k, (photo, mime)) in self.photos.iter().enumerate().skip(start) {
            let (num, done) = (k + 1, k as u64);
            let mut r = report(format!("Photo {num} of {n} received"), done);
            r.success = success;
            r.failure = failure;
            ctx.progress(r.clone())?;
            r.status = format!("Analysing photo {num} of {n}");
            ctx.progress(r.clone())?;
            match self.provider.read(photo, mime) {
                Ok(lines) => {
                    r.status = format!("Detected {} candidates in photo {num} of {n}", lines.len());
                    ctx.progress(r.clone())?;
                    r.status = format!("Matching {num} of {n}");
                    let (found, sugg) = matcher::match_lines(&lines, &known, num);
                    success += 1;
                    r.processed = done + 1;
                    r.cursor = r.processed;
                    r.success = success;
                    r.items = found
                        .iter()
                        .chain(&sugg)
                        .map(|d| {
                            let mut v = serde_json::to_value(d).expect("serialises");
                            v["suggestion"] = json!(
                                d.work_id.is_none() && d.isbn.is_none() && d.confidence < 0.5
                            );
                            Item {
                                work_id: d.work_id.clone(),
                                json: v.to_string(),
                            }
                        })
                        .collect();
                    ctx.progress(r)?;
                    books.extend(found);
                    suggestions.extend(sugg);
                }
                Err(e) => {
                    failure += 1;
                    r.processed = done + 1;
                    r.cursor = r.processed;
                    r.failure = failure;
                    r.status = format!("Photo {num} of {n} could not be read");
                    r.errors.push(RowError {
                        row: num as u64,
                        message: e.clone(),
                    });
                    ctx.progress(r)?;
                    failed.push(json!({"photo": num, "error": e}));
                }
            }
        }
        if success == 0 {
            return Ok(Err(JobFailure::new(
                ErrorCode::AiScanError,
                format!(
                    "nothing could be read from the {n} photo(s): {}",
                    failed
                        .iter()
                        .filter_map(|f| f["error"].as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            )));
        }
        let mut extras = Map::new();
        extras.insert("books".into(), json!(books));
        extras.insert("suggestions".into(), json!(suggestions));
        extras.insert("failedPhotos".into(), json!(failed));
        Ok(Ok(extras))
    }
}
