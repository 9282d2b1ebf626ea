//! Tesseract as a line reader: every crop of a worker's books is one page
//! of one run (`--psm 7`, a single line per page), its TSV read as it is
//! printed (Tesseract flushes each page), so each book is answered as soon
//! as its last crop is read. One process per worker and not per crop:
//! starting one (loading the model) takes ~0.15 s, reading a line ~0.03 s.

use super::gate::Gate;
use super::matcher::Line;
use super::ocr::{lines_from_tsv, BookCrops};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

/// How to run Tesseract: which executable, through which gate
/// (`--max-ocr-processes`) and for how long at most (`--ocr-timeout-secs`).
pub struct Tesseract<'a> {
    pub binary: &'a Path,
    pub gate: &'a Gate,
    pub timeout: Duration,
}

/// Answers for books as they are read; it returns false to stop.
pub type Sink<'a> = dyn FnMut(usize, Result<Vec<Line>, String>) -> bool + 'a;

/// Which book and line a page is a crop of.
struct Page {
    book: usize,
    line: usize,
}

/// Binary PGM: the cheapest image Tesseract reads.
fn pgm(img: &image::GrayImage) -> Vec<u8> {
    let mut out = format!("P5\n{} {}\n255\n", img.width(), img.height()).into_bytes();
    out.extend_from_slice(img.as_raw());
    out
}

/// Writes every crop of `books` into `scratch` and the list of them.
fn write_pages(books: &[(usize, &BookCrops)], scratch: &Path) -> Result<Vec<Page>, String> {
    std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let (mut pages, mut list) = (Vec::new(), String::new());
    for (b, (_, book)) in books.iter().enumerate() {
        for (l, crops) in book.lines.iter().enumerate() {
            for c in crops {
                let file = scratch.join(format!("{}.pgm", pages.len()));
                std::fs::write(&file, pgm(c)).map_err(|e| format!("{}: {e}", file.display()))?;
                list.push_str(&format!("{}\n", file.display()));
                pages.push(Page { book: b, line: l });
            }
        }
    }
    std::fs::write(scratch.join("pages.txt"), list).map_err(|e| e.to_string())?;
    Ok(pages)
}

/// Collects each book's best reading per line and answers a book when
/// its last page is in.
struct Books<'s, 'a> {
    best: Vec<Vec<Option<Line>>>,
    left: Vec<usize>,
    ids: Vec<usize>,
    sink: &'s mut Sink<'a>,
    keep: &'s dyn Fn(&Line) -> bool,
    stopped: bool,
}

impl Books<'_, '_> {
    fn page(&mut self, p: &Page, rows: &str) {
        let words = lines_from_tsv(rows);
        let n = words.len().max(1) as f64;
        let read = Line {
            text: words
                .iter()
                .map(|l| l.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            confidence: words.iter().map(|l| l.confidence).sum::<f64>() / n,
        };
        let best = &mut self.best[p.book][p.line];
        if (self.keep)(&read) && best.as_ref().is_none_or(|b| read.confidence > b.confidence) {
            *best = Some(read);
        }
        self.left[p.book] -= 1;
        if self.left[p.book] == 0 {
            let lines = std::mem::take(&mut self.best[p.book])
                .into_iter()
                .flatten()
                .collect();
            self.stopped |= !(self.sink)(self.ids[p.book], Ok(lines));
        }
    }
}

/// Reads `books` (each with its index), answering each into `sink` as
/// soon as it is read; `keep` tidies and judges one page's reading.
pub fn read_books(
    tess: &Tesseract<'_>,
    books: &[(usize, &BookCrops)],
    scratch: &Path,
    keep: &dyn Fn(&Line) -> bool,
    sink: &mut Sink<'_>,
) {
    let pages = match write_pages(books, scratch) {
        Ok(p) => p,
        Err(e) => {
            for (i, _) in books {
                if !sink(*i, Err(e.clone())) {
                    break;
                }
            }
            return;
        }
    };
    let mut state = Books {
        best: books
            .iter()
            .map(|(_, b)| vec![None; b.lines.len()])
            .collect(),
        left: vec![0; books.len()],
        ids: books.iter().map(|(i, _)| *i).collect(),
        sink,
        keep,
        stopped: false,
    };
    pages.iter().for_each(|p| state.left[p.book] += 1);
    for (b, _) in books
        .iter()
        .enumerate()
        .filter(|(b, _)| state.left[*b] == 0)
    {
        state.stopped |= !(state.sink)(state.ids[b], Ok(Vec::new()));
    }
    if pages.is_empty() || state.stopped {
        let _ = std::fs::remove_dir_all(scratch);
        return;
    }
    if let Err(e) = run(tess, scratch, &pages, &mut state) {
        for b in (0..books.len()).filter(|b| state.left[*b] > 0) {
            if !(state.sink)(state.ids[b], Err(e.clone())) {
                break;
            }
        }
    }
    let _ = std::fs::remove_dir_all(scratch);
}

fn run(
    tess: &Tesseract<'_>,
    scratch: &Path,
    pages: &[Page],
    state: &mut Books<'_, '_>,
) -> Result<(), String> {
    let _pass = tess.gate.enter();
    // Tesseract notes each page on stderr: a file, not a pipe nobody reads.
    let errors = scratch.join("stderr.txt");
    let stderr = std::fs::File::create(&errors).map_err(|e| e.to_string())?;
    let mut child = Command::new(tess.binary)
        .arg(scratch.join("pages.txt"))
        .args(["stdout", "--psm", "7", "-l", "eng", "tsv"])
        // One thread each: the scan runs one process per core.
        .env("OMP_THREAD_LIMIT", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot run {}: {e} (install tesseract-ocr)",
                tess.binary.display()
            )
        })?;
    let out = BufReader::new(child.stdout.take().expect("piped"));
    let child = Arc::new(Mutex::new(child));
    let timed_out = Arc::new(AtomicBool::new(false));
    let (done, finished) = mpsc::channel::<()>();
    // Past the deadline the child is killed: its output ends, and so does
    // the read below.
    let watchdog = {
        let (child, timed_out, timeout) = (child.clone(), timed_out.clone(), tess.timeout);
        std::thread::spawn(move || {
            if finished.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
                timed_out.store(true, Ordering::Release);
                let _ = lock(&child).kill();
            }
        })
    };
    let read = read_pages(out, pages, state);
    if state.stopped {
        let _ = lock(&child).kill();
    }
    drop(done);
    let _ = watchdog.join();
    let status = lock(&child).wait().map_err(|e| e.to_string())?;
    if timed_out.load(Ordering::Acquire) {
        return Err(format!(
            "tesseract did not finish within {} s and was stopped",
            tess.timeout.as_secs_f64()
        ));
    }
    read?;
    if !state.stopped && !status.success() {
        let said = std::fs::read_to_string(&errors).unwrap_or_default();
        return Err(format!("tesseract failed: {}", said.trim()));
    }
    Ok(())
}

fn lock(child: &Mutex<Child>) -> std::sync::MutexGuard<'_, Child> {
    child.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Answers each page as its TSV rows are printed; stops early (leaving
/// the child to be killed) once the sink says so.
fn read_pages(
    out: BufReader<ChildStdout>,
    pages: &[Page],
    state: &mut Books<'_, '_>,
) -> Result<(), String> {
    let (mut page, mut rows) = (0usize, String::new());
    for row in out.lines() {
        let row = row.map_err(|e| e.to_string())?;
        let mut f = row.split('\t');
        let (level, num) = (f.next(), f.next().and_then(|n| n.parse::<usize>().ok()));
        if let (Some("1"), Some(num)) = (level, num) {
            // A page starts: the one before it is complete.
            if page > 0 && page <= pages.len() {
                state.page(&pages[page - 1], &rows);
            }
            if state.stopped {
                return Ok(());
            }
            (page, rows) = (num, String::from("header\n"));
        }
        rows.push_str(&row);
        rows.push('\n');
    }
    if page > 0 && page <= pages.len() {
        state.page(&pages[page - 1], &rows);
    }
    Ok(())
}
