//! `ai_scan`: photos of a bookshelf in, the books on it out. First every
//! photo's books are found (`Found 9 books on photo 1 of 2`), so the job
//! knows its total, then they are read on every core (`Reading 3 of 9`),
//! each a progress event that moves the bar and carries the book.

mod books;
pub mod gate;
pub mod gemini;
pub mod image;
mod ink;
pub mod locate;
pub mod matcher;
pub mod ocr;
pub mod parallel;
mod tally;
mod tesseract;

use super::BuildError;
use crate::config::ScanConfig;
use crate::job::{JobContext, JobRunner, Run, Stopped, Verdict};
use crate::store::LookupStore;
use matcher::{Known, Line};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tally::Tally;

/// Known books loaded to match against, at most.
const KNOWN_LIMIT: u64 = 50_000;

/// A book found on a photo: read already (a provider that reads the whole
/// photo at once), or located and waiting to be read.
pub enum Found {
    Read(Vec<Line>),
    Unread(ocr::BookCrops),
}

/// Answers for books as they are read (index, lines): false to stop.
pub type Sink<'a> = tesseract::Sink<'a>;

/// What finds and reads the books on a shelf photo. Called on blocking
/// threads, `read` on several at once.
pub trait ScanProvider: Send + Sync {
    fn locate(&self, photo: &Path, mime: &str) -> Result<Vec<Found>, String>;
    /// Reads `books` (each with its index), answering each into `sink`
    /// with its lines, the title first (none when nothing is legible), as
    /// soon as it is read; `scratch` is a folder of its own to work in.
    fn read(&self, books: &[(usize, &Found)], scratch: &Path, sink: &mut Sink<'_>);
}

/// Answers the books a provider read with the photo.
fn answer_read(books: &[(usize, &Found)], sink: &mut Sink<'_>) -> Vec<(usize, ocr::BookCrops)> {
    let mut unread = Vec::new();
    for (i, f) in books {
        match f {
            Found::Read(lines) => {
                if !sink(*i, Ok(lines.clone())) {
                    return Vec::new();
                }
            }
            Found::Unread(c) => unread.push((*i, c.clone())),
        }
    }
    unread
}

impl ScanProvider for ocr::Ocr {
    fn locate(&self, photo: &Path, _mime: &str) -> Result<Vec<Found>, String> {
        // Checked again: a job resumed after a restart may be read under
        // a lower limit than it was accepted with.
        image::dimensions_within(photo, self.max_pixels).map_err(|e| e.to_string())?;
        let _pass = self.gates.decodes.enter();
        let img = ::image::ImageReader::open(photo)
            .and_then(::image::ImageReader::with_guessed_format)
            .map_err(|e| format!("the photo cannot be opened: {e}"))?
            .decode()
            .map_err(|e| format!("the photo cannot be decoded: {e}"))?;
        Ok(self
            .find_books(&img.to_rgb8())
            .into_iter()
            .map(Found::Unread)
            .collect())
    }

    fn read(&self, books: &[(usize, &Found)], scratch: &Path, sink: &mut Sink<'_>) {
        let unread = answer_read(books, sink);
        let unread: Vec<(usize, &ocr::BookCrops)> = unread.iter().map(|(i, c)| (*i, c)).collect();
        self.read_books(&unread, scratch, sink);
    }
}

/// One photo found and read start to end, as the pipeline reads it but
/// without a job: its books, each flagged whether it matched a known book.
/// For benches and tests (`crates/bench/src/shelves.rs`).
pub fn read_photo(
    provider: &dyn ScanProvider,
    photo: &Path,
    mime: &str,
    known: &[Known],
    scratch: &Path,
) -> Result<Vec<(matcher::Detected, bool)>, String> {
    let found = provider.locate(photo, mime)?;
    let found: Vec<&Found> = found.iter().collect();
    let mut out = Vec::new();
    let mut failed = None;
    read_all(provider, &found, 0, scratch, |_, read| match read {
        Ok(lines) => {
            out.extend(matcher::match_book(&lines, known, 1));
            true
        }
        Err(e) => {
            failed = Some(e);
            false
        }
    });
    failed.map_or(Ok(out), Err)
}

/// Reads `found` from `from` on, one reader per core, answering each
/// book's lines in order; each reader works in a folder of its own
/// under `scratch`.
fn read_all(
    provider: &dyn ScanProvider,
    found: &[&Found],
    from: usize,
    scratch: &Path,
    answer: impl FnMut(usize, Result<Vec<Line>, String>) -> bool,
) {
    parallel::in_order(
        from.min(found.len()),
        found.len(),
        readers(),
        |share, sink| {
            let books: Vec<(usize, &Found)> = share.iter().map(|&i| (i, found[i])).collect();
            provider.read(&books, &scratch.join(format!("reader-{}", share[0])), sink);
        },
        answer,
    );
}

/// Gemini's client is async: it runs on the server's runtime.
struct GeminiOnRuntime(gemini::Gemini, tokio::runtime::Handle);

impl ScanProvider for GeminiOnRuntime {
    fn locate(&self, photo: &Path, mime: &str) -> Result<Vec<Found>, String> {
        let books = self.1.block_on(self.0.read(photo, mime))?;
        Ok(books.into_iter().map(|l| Found::Read(vec![l])).collect())
    }

    fn read(&self, books: &[(usize, &Found)], _scratch: &Path, sink: &mut Sink<'_>) {
        for (i, _) in answer_read(books, sink) {
            if !sink(i, Err("gemini reads whole photos".into())) {
                return;
            }
        }
    }
}

/// The provider `config` names.
pub fn provider(
    config: &ScanConfig,
    gates: &gate::Gates,
    runtime: tokio::runtime::Handle,
) -> Result<Box<dyn ScanProvider>, String> {
    match config.provider.as_str() {
        "ocr" => Ok(Box::new(ocr::Ocr {
            binary: config.tesseract.clone(),
            gates: gates.clone(),
            timeout: config.ocr_timeout,
            max_pixels: config.max_photo_pixels,
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
                max_body_bytes: config.max_upstream_bytes,
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
    /// Where readers keep their crops: in the job's folder.
    scratch: PathBuf,
    provider: Box<dyn ScanProvider>,
    store: Arc<dyn LookupStore>,
    /// [`AiScanSpec::jobs`].
    jobs: Vec<String>,
    runtime: tokio::runtime::Handle,
}

/// The photos of a scan, spooled in the job's folder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AiScanSpec {
    /// File name in the job's folder, and its MIME type.
    pub photos: Vec<(String, String)>,
    /// The jobs whose tokens the scan request presented: their books are
    /// matched, no other job's (docs/PROTOCOL.md §4.3). Stored, so that a
    /// resumed scan matches against the same.
    #[serde(default)]
    pub jobs: Vec<String>,
}

impl AiScan {
    /// `dir`: the job's spool folder, which must still hold every photo.
    pub fn build(
        spec: AiScanSpec,
        dir: Option<&Path>,
        config: &ScanConfig,
        gates: &gate::Gates,
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
            scratch: dir.join("scratch"),
            provider: provider(config, gates, runtime.clone()).map_err(BuildError::BadParams)?,
            store,
            jobs: spec.jobs,
            runtime,
        })
    }
}

impl JobRunner for AiScan {
    fn start(self: Box<Self>, ctx: JobContext) -> Run {
        Run::Blocking(Box::new(move || self.run(&ctx)))
    }
}

/// Threads reading books at once: one Tesseract pass per core.
fn readers() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

impl AiScan {
    fn run(self, ctx: &JobContext) -> Result<Verdict, Stopped> {
        let n = self.photos.len();
        ctx.started(0)?;
        let known: Vec<Known> = self
            .runtime
            .block_on(self.store.known_books(self.jobs.clone(), KNOWN_LIMIT))
            .unwrap_or_default()
            .iter()
            .filter_map(|j| Known::from_json(j))
            .collect();
        // Books read before a restart have their results stored already:
        // they are found again and skipped.
        let done = ctx.resume.cursor;
        let mut tally = Tally::resumed(done, ctx.resume.success, ctx.resume.failure);
        let mut found: Vec<(usize, Found)> = Vec::new();
        for (k, (photo, mime)) in self.photos.iter().enumerate() {
            let num = k + 1;
            ctx.progress(tally.report(format!("Photo {num} of {n} received")))?;
            ctx.progress(tally.report(format!("Analysing photo {num} of {n}")))?;
            match self.provider.locate(photo, mime) {
                Ok(books) => {
                    tally.located(books.len() as u64);
                    let mut r = tally.report(format!(
                        "Found {} on photo {num} of {n}",
                        plural(books.len(), "book")
                    ));
                    r.total = Some(tally.total);
                    ctx.progress(r)?;
                    found.extend(books.into_iter().map(|b| (num, b)));
                }
                Err(e) => ctx.progress(tally.unreadable(num, n, e))?,
            }
        }
        let total = found.len();
        let books: Vec<&Found> = found.iter().map(|(_, b)| b).collect();
        let mut stopped = Ok(());
        read_all(
            &*self.provider,
            &books,
            done as usize,
            &self.scratch,
            |i, lines| {
                let (photo, status) = (found[i].0, format!("Reading {} of {total}", i + 1));
                let matched = lines.map(|l| matcher::match_book(&l, &known, photo));
                stopped = ctx.progress(tally.book(status, photo, matched));
                stopped.is_ok()
            },
        );
        stopped?;
        if let Some(r) = tally.counted() {
            ctx.progress(r)?;
        }
        Ok(tally.verdict(n))
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
