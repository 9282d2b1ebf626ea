//! `bookstrack catalog load`: Open Library edition dumps into the embedded
//! database, so enrichment works offline and without rate limits.

use anyhow::{Context, Result};
use bookstrack_server::pipelines::enrichment::catalog::entries_from_dump_line;
use bookstrack_server::store::{LookupStore, SqliteStore};
use bookstrack_server::Config;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Editions written per transaction.
const BATCH: usize = 5_000;

/// Counts the bytes read, for the progress bar of a gzip file's input.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

pub async fn load(file: &Path, data_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let store = SqliteStore::open(&Config::new(data_dir).database_path())?;
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}  {msg}",
        )
        .expect("valid template"),
    );
    let raw = Counted {
        inner: std::fs::File::open(file)?,
        bar: bar.clone(),
    };
    let reader: Box<dyn BufRead> = if file.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(raw)))
    } else {
        Box::new(BufReader::new(raw))
    };
    let (mut lines, mut written) = (0u64, 0u64);
    let mut batch = Vec::with_capacity(BATCH);
    for line in reader.lines() {
        let line = line.context("the dump is not readable text")?;
        lines += 1;
        batch.extend(entries_from_dump_line(&line));
        if batch.len() >= BATCH {
            written += store.catalog_put(std::mem::take(&mut batch)).await?;
            bar.set_message(format!("{written} editions"));
        }
    }
    written += store.catalog_put(batch).await?;
    bar.finish_and_clear();
    println!("{lines} lines read, {written} editions with an ISBN in the catalog");
    Ok(())
}
