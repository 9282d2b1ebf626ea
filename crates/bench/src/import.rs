//! `bookstrack-bench import`: a generated Goodreads export imported end to
//! end by a `bookstrack serve` child, next to two baselines measured in the
//! same run: the csv crate's raw read of the file, and that read storing
//! every record unparsed in SQLite.

use crate::server::{median, ServerChild};
use anyhow::{bail, Result};
use bookstrack_client::{Client, StreamOptions};
use bookstrack_protocol::Payload;
use bookstrack_testkit::goodreads;
use clap::Args;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// Reads every record of `path` as the baselines do: `ByteRecord`s, no
/// mapping, the header skipped.
fn each_record(path: &Path, mut each: impl FnMut(&csv::ByteRecord) -> Result<()>) -> Result<()> {
    let mut r = csv::ReaderBuilder::new().flexible(true).from_path(path)?;
    let mut rec = csv::ByteRecord::new();
    while r.read_byte_record(&mut rec)? {
        each(&rec)?;
    }
    Ok(())
}

fn raw_csv_read(path: &Path) -> Result<Duration> {
    let t = Instant::now();
    let mut fields = 0usize;
    each_record(path, |rec| {
        fields += rec.len();
        Ok(())
    })?;
    std::hint::black_box(fields);
    Ok(t.elapsed())
}

/// The raw read plus storing every record as read, unparsed, the way the
/// server stores each book (one row per record in a `WITHOUT ROWID` table
/// keyed by job and index; WAL, `synchronous=NORMAL`), in one transaction:
/// the least an import that keeps every row durably can cost.
fn raw_read_and_store(path: &Path, db: &Path) -> Result<Duration> {
    let conn = rusqlite::Connection::open(db)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE items (job_id TEXT NOT NULL, idx INTEGER NOT NULL, record BLOB NOT NULL,
         PRIMARY KEY (job_id, idx)) WITHOUT ROWID",
    )?;
    let t = Instant::now();
    let tx = conn.unchecked_transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO items VALUES ('job', ?1, ?2)")?;
        let mut idx = 0i64;
        each_record(path, |rec| {
            insert.execute(rusqlite::params![idx, rec.as_slice()])?;
            idx += 1;
            Ok(())
        })?;
    }
    tx.commit()?;
    Ok(t.elapsed())
}

struct ImportRun {
    /// Upload, scan and job creation: until the 202.
    accepted: Duration,
    e2e: Duration,
    raw: Duration,
    stored: Duration,
    peak_rss_kib: u64,
}

async fn import_once(rows: u64) -> Result<ImportRun> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("goodreads_library_export.csv");
    goodreads::write_goodreads(std::io::BufWriter::new(std::fs::File::create(&file)?), rows)?;
    let raw = raw_csv_read(&file)?;
    let stored = raw_read_and_store(&file, &dir.path().join("floor.db"))?;
    let server = ServerChild::start(&dir.path().join("data"))?;
    let client = Client::new(&server.url)?;
    let t = Instant::now();
    let started = client.start_import(&file).await?;
    let accepted = t.elapsed();
    let mut events = client.follow(&started, StreamOptions::default());
    let mut done = false;
    while let Some(ev) = events.next().await {
        match ev?.into_payload() {
            Payload::JobComplete { result } => {
                let ok = result
                    .get("successCount")
                    .and_then(serde_json::Value::as_u64);
                if ok != Some(rows) {
                    bail!("imported {ok:?} of {rows} rows");
                }
                done = true;
            }
            Payload::Error { error } => bail!("job failed: {}", error.message),
            _ => {}
        }
    }
    let e2e = t.elapsed();
    if !done {
        bail!("the job did not complete");
    }
    Ok(ImportRun {
        accepted,
        e2e,
        raw,
        stored,
        peak_rss_kib: server.peak_rss_kib()?,
    })
}

pub async fn import(a: ImportArgs) -> Result<()> {
    println!(
        "import of a generated {}-row Goodreads export, {} runs",
        a.rows, a.runs
    );
    println!("baselines in the same run: the csv crate's raw read of the file, and that read storing each record unparsed in SQLite");
    println!(
        "run  end-to-end  (to 202)  rows/s     server peak RSS  raw read  ratio  read+store  ratio"
    );
    let mut runs = Vec::new();
    for i in 1..=a.runs.max(1) {
        let r = import_once(a.rows).await?;
        let (e2e, raw, stored) = (
            r.e2e.as_secs_f64(),
            r.raw.as_secs_f64(),
            r.stored.as_secs_f64(),
        );
        println!(
            "{i:<4} {e2e:>8.3} s  {:>6.3} s  {:>9.0}  {:>10.1} MiB  {raw:>6.3} s  {:>4.1}x  {stored:>8.3} s  {:>4.1}x",
            r.accepted.as_secs_f64(),
            a.rows as f64 / e2e,
            r.peak_rss_kib as f64 / 1024.0,
            e2e / raw,
            stored / raw,
        );
        runs.push(r);
    }
    let e2e = median(runs.iter().map(|r| r.e2e.as_secs_f64()).collect());
    let raw = median(runs.iter().map(|r| r.raw.as_secs_f64()).collect());
    let stored = median(runs.iter().map(|r| r.stored.as_secs_f64()).collect());
    let rss = median(runs.iter().map(|r| r.peak_rss_kib).collect());
    println!(
        "median {e2e:.3} s end to end ({:.0} rows/s), server peak RSS {:.1} MiB, raw csv read {raw:.3} s, ratio {:.1}x; read and store unparsed {stored:.3} s ({:.1}x the raw read)",
        a.rows as f64 / e2e,
        rss as f64 / 1024.0,
        e2e / raw,
        stored / raw
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_baseline_keeps_every_record_as_read() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("export.csv");
        std::fs::write(&csv, "Title,Author\r\n\"A, B\",C\r\nD,E\r\nF,G\r\n").unwrap();
        let db = dir.path().join("floor.db");
        raw_read_and_store(&csv, &db).unwrap();
        let conn = rusqlite::Connection::open(&db).unwrap();
        let records: Vec<Vec<u8>> = conn
            .prepare("SELECT record FROM items ORDER BY idx")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // A record's fields, joined with no delimiters.
        assert_eq!(records, [&b"A, BC"[..], b"DE", b"FG"]);
    }
}
