//! `bookstrack-bench shelves`: the offline scan on varied shelf pictures
//! it was not tuned on (`bookstrack_testkit::shelf::varied`), beside one
//! plain `tesseract --psm 3` pass over the same pictures, timed in the same
//! run. A title counts as read when a book or a suggestion of the scan
//! bears it exactly (case-insensitive); for the plain pass, when it occurs
//! anywhere in the text it printed. Invented: a matched book that is not
//! on the picture. Blank pictures (no text) must give nothing at all.

use anyhow::{bail, Context};
use bookstrack_server::pipelines::ai_scan::matcher::Known;
use bookstrack_server::pipelines::ai_scan::{ocr::Ocr, read_photo};
use bookstrack_testkit::shelf::{self, Shelf};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct ShelvesArgs {
    /// Seed of the first varied picture.
    #[arg(long, default_value_t = 1)]
    pub first: u64,
    /// Varied pictures to read.
    #[arg(long, default_value_t = 40)]
    pub count: u64,
    /// Blank pictures (no text) to read.
    #[arg(long, default_value_t = 4)]
    pub blank: u64,
    /// The Tesseract executable.
    #[arg(long, default_value = "tesseract")]
    pub tesseract: String,
    /// Draw every varied picture at this size (`1800x1100`) rather than
    /// at its own 800–4000 px: for the time per photo of one size.
    #[arg(long, value_parser = size)]
    pub size: Option<(u32, u32)>,
    /// Print every picture's misses.
    #[arg(long)]
    pub verbose: bool,
}

/// What one picture gave.
struct Outcome {
    found: usize,
    /// Books the scan counted (matched and suggested).
    counted: usize,
    titles: usize,
    invented: usize,
    noise: usize,
    took: Duration,
    plain_found: usize,
    plain_took: Duration,
}

fn plain(tesseract: &str, file: &Path) -> anyhow::Result<String> {
    let out = std::process::Command::new(tesseract)
        .arg(file)
        .args(["stdout", "--psm", "3"])
        .output()
        .context("runs tesseract")?;
    if !out.status.success() {
        bail!("tesseract failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" "))
}

fn one(
    a: &ShelvesArgs,
    ocr: &Ocr,
    dir: &Path,
    name: &str,
    s: &Shelf,
    known: &[Known],
) -> anyhow::Result<Outcome> {
    let file = dir.join(name);
    std::fs::write(&file, &s.encoded)?;
    let start = Instant::now();
    let read = read_photo(
        ocr,
        &file,
        "image/jpeg",
        known,
        &file.with_extension("scratch"),
    )
    .map_err(anyhow::Error::msg)?;
    let took = start.elapsed();
    let start = Instant::now();
    let text = plain(&a.tesseract, &file)?;
    let plain_took = start.elapsed();
    let on_photo = |t: &str| s.titles.iter().any(|x| x.eq_ignore_ascii_case(t));
    let found = s
        .titles
        .iter()
        .filter(|t| read.iter().any(|(d, _)| d.title.eq_ignore_ascii_case(t)))
        .count();
    let invented = read
        .iter()
        .filter(|(d, m)| *m && !on_photo(&d.title))
        .count();
    if a.verbose {
        let missed: Vec<&String> = s
            .titles
            .iter()
            .filter(|t| !read.iter().any(|(d, _)| d.title.eq_ignore_ascii_case(t)))
            .collect();
        let got: Vec<String> = read
            .iter()
            .map(|(d, m)| format!("{}{}", if *m { "" } else { "?" }, d.title))
            .collect();
        println!("  {name}: missed {missed:?}; read {got:?}");
    }
    Ok(Outcome {
        found,
        counted: read.len(),
        titles: s.titles.len(),
        invented,
        noise: if s.titles.is_empty() { read.len() } else { 0 },
        took,
        plain_found: s
            .titles
            .iter()
            .filter(|t| text.contains(&t.to_lowercase()))
            .count(),
        plain_took,
    })
}

fn size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("WIDTHxHEIGHT, e.g. 1800x1100")?;
    let px = |v: &str| v.parse::<u32>().map_err(|e| format!("{v}: {e}"));
    Ok((px(w)?, px(h)?))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

pub fn run(a: ShelvesArgs) -> anyhow::Result<()> {
    let ocr = Ocr::new(a.tesseract.clone());
    let dir = tempfile::tempdir()?;
    let known: Vec<Known> = shelf::BOOKS
        .iter()
        .map(|(t, au)| Known {
            title: t.to_string(),
            author: Some(au.to_string()),
            isbn13: None,
            work_id: None,
        })
        .collect();
    let mut all = Vec::new();
    for seed in a.first..a.first + a.count {
        let s = match a.size {
            Some((w, h)) => shelf::varied_sized(seed, w, h),
            None => shelf::varied(seed),
        };
        let o = one(&a, &ocr, dir.path(), &format!("{seed}.img"), &s, &known)?;
        println!(
            "seed {seed:>4} {:>4}x{:<4} {:>2} books: scan {:>2} read, {:>2} counted, {} invented, {:>5.2} s | plain {:>2} read, {:>5.2} s",
            s.image.width(), s.image.height(), o.titles, o.found, o.counted, o.invented, o.took.as_secs_f64(), o.plain_found, o.plain_took.as_secs_f64()
        );
        all.push(o);
    }
    let mut noise = 0;
    for seed in 0..a.blank {
        let s = shelf::blank(seed);
        noise += one(
            &a,
            &ocr,
            dir.path(),
            &format!("blank{seed}.img"),
            &s,
            &known,
        )?
        .noise;
    }
    let titles: usize = all.iter().map(|o| o.titles).sum();
    let pct = |n: usize| 100.0 * n as f64 / titles.max(1) as f64;
    let found: usize = all.iter().map(|o| o.found).sum();
    let plain_found: usize = all.iter().map(|o| o.plain_found).sum();
    let invented: usize = all.iter().map(|o| o.invented).sum();
    println!(
        "scan:  {found}/{titles} titles ({:.1} %), {:.2} invented per photo, median {:.2} s per photo",
        pct(found),
        invented as f64 / all.len().max(1) as f64,
        median(all.iter().map(|o| o.took).collect()).as_secs_f64()
    );
    let miscount: usize = all.iter().map(|o| o.counted.abs_diff(o.titles)).sum();
    println!(
        "count: {} books counted for {titles} on the pictures, off by {:.2} per photo on average",
        all.iter().map(|o| o.counted).sum::<usize>(),
        miscount as f64 / all.len().max(1) as f64
    );
    println!(
        "plain: {plain_found}/{titles} titles ({:.1} %), median {:.2} s per photo (one tesseract --psm 3 pass)",
        pct(plain_found),
        median(all.iter().map(|o| o.plain_took).collect()).as_secs_f64()
    );
    println!(
        "blank: {noise} books or suggestions on {} pictures with no text",
        a.blank
    );
    Ok(())
}
