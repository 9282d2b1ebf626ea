//! `bookstrack import FILE --enrich` through the binary, against a real
//! `bookstrack serve` whose only enrichment source is a fake Open Library
//! on loopback: both phases summarised, the enrichment covering exactly the
//! books imported (a duplicate row and the unimportable rows not among
//! them); an export the server refuses, or one that yields no book, starts
//! no enrichment.

use crate::support::*;
use bookstrack_testkit::goodreads;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Open Library's `/api/books?jscmd=data`: every ISBN asked for is known.
struct Books;

fn bibkeys(req: &Request) -> Vec<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == "bibkeys")
        .map(|(_, v)| {
            v.split(',')
                .filter(|k| !k.is_empty())
                .map(|k| k.trim_start_matches("ISBN:").to_string())
                .collect()
        })
        .unwrap_or_default()
}

impl Respond for Books {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut body = serde_json::Map::new();
        for isbn in bibkeys(req) {
            let record = json!({
                "key": "/books/OL1M", "title": format!("Title {isbn}"),
                "authors": [{"name": "Some Author"}],
                "identifiers": {"isbn_13": [isbn]},
                "publishers": [{"name": "Penguin"}], "publish_date": "1988",
            });
            body.insert(format!("ISBN:{isbn}"), record);
        }
        ResponseTemplate::new(200).set_body_json(Value::Object(body))
    }
}

/// A fake Open Library, and a server (with `extra` flags) that asks it
/// alone (no cache: every book enriched is a request the fake sees).
async fn start(data: &Path, extra: &[&str]) -> (MockServer, ServerProc) {
    let ol = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/books"))
        .respond_with(Books)
        .mount(&ol)
        .await;
    let ol_url = ol.uri();
    let mut flags = vec![
        "--enrich-providers",
        "openlibrary",
        "--openlibrary-url",
        &ol_url,
        "--openlibrary-rate",
        "50",
    ];
    flags.extend(extra);
    let srv = ServerProc::start(BOOKSTRACK, data, 0, &flags);
    (ol, srv)
}

/// The ISBNs the fake Open Library was asked for.
async fn asked(ol: &MockServer) -> BTreeSet<String> {
    let requests = ol.received_requests().await.unwrap_or_default();
    requests.iter().flat_map(bibkeys).collect()
}

/// Runs `bookstrack import FILE --enrich --server URL [extra…]`.
async fn import_enrich(url: &str, file: PathBuf, tokens: PathBuf, extra: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(BOOKSTRACK);
    cmd.arg("import")
        .arg(file)
        .args(["--enrich", "--server", url])
        .args(extra)
        .env("BOOKSTRACK_TOKEN_DIR", tokens);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

async fn jobs_started(url: &str) -> String {
    let text = http()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("bookstrack_jobs_started_total "))
        .unwrap_or_else(|| panic!("no jobs_started in {text}"))
        .to_string()
}

/// 200 generated rows (rows 96 and 193 without a title) and a copy of the
/// first row: 198 distinct books, with their ISBNs.
fn export_with_a_duplicate(dir: &Path) -> (PathBuf, BTreeSet<String>) {
    let mut csv = String::from_utf8(goodreads_csv(200)).unwrap();
    let first = csv.lines().nth(1).unwrap().to_string();
    csv.push_str(&first);
    csv.push('\n');
    let file = dir.join("goodreads_library_export.csv");
    std::fs::write(&file, csv).unwrap();
    let isbns = (0..200)
        .filter(|i| i % 97 != 96)
        .map(|i| goodreads::isbn13(i + 12345))
        .collect();
    (file, isbns)
}

/// The lines of `stdout` from the one that is `heading` to the next blank
/// or heading line.
fn section<'a>(stdout: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = stdout.lines().skip_while(|l| *l != heading);
    assert_eq!(lines.next(), Some(heading), "{stdout}");
    lines.take_while(|l| !l.ends_with("summary:")).collect()
}

fn failure(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_then_enrich_summarises_both_phases_over_the_books_imported() {
    let dir = tempfile::tempdir().unwrap();
    let (ol, srv) = start(&dir.path().join("data"), &[]).await;
    let (file, imported) = export_with_a_duplicate(dir.path());
    let out = import_enrich(&srv.url, file, dir.path().join("tokens"), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", failure(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let import = section(&stdout, "import summary:");
    for want in [
        "total       201",
        "succeeded   199",
        "duplicates  1 (merged into an earlier row)",
        "failed      2",
    ] {
        assert!(import.contains(&want), "{want:?} in {import:?}");
    }
    // The enrichment's own events come between the two summaries.
    assert!(import.contains(&"#1 started: 198 books"), "{import:?}");
    let enrichment = section(&stdout, "enrichment summary:");
    assert_eq!(
        enrichment,
        ["total       198", "succeeded   198", "failed      0"],
        "{stdout}"
    );
    assert_eq!(asked(&ol).await, imported, "the books enriched");
    assert_eq!(
        jobs_started(&srv.url).await,
        "bookstrack_jobs_started_total 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_json_both_phases_events_are_printed_one_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let (ol, srv) = start(&dir.path().join("data"), &[]).await;
    let (file, imported) = export_with_a_duplicate(dir.path());
    let out = import_enrich(&srv.url, file, dir.path().join("tokens"), &["--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", failure(&out));
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let split = events
        .iter()
        .position(|e| e["pipeline"] == "batch_enrichment")
        .expect("enrichment events");
    let (import, enrichment) = events.split_at(split);
    for (phase, pipeline, total) in [
        (import, "csv_import", 201),
        (enrichment, "batch_enrichment", 198),
    ] {
        assert!(phase.iter().all(|e| e["pipeline"] == pipeline), "{phase:?}");
        let seqs: Vec<u64> = phase.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (1..=phase.len() as u64).collect::<Vec<_>>());
        assert_eq!(phase[0]["payload"]["totalCount"], total);
        let end = &phase.last().unwrap()["payload"];
        assert_eq!(end["type"], "job_complete", "{pipeline}");
        assert_eq!(end["result"]["totalBooks"], total, "{pipeline}");
    }
    assert_eq!(asked(&ol).await, imported);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_export_starts_no_enrichment() {
    let dir = tempfile::tempdir().unwrap();
    let (ol, srv) = start(&dir.path().join("data"), &[]).await;
    let file = dir.path().join("not-a-library.csv");
    std::fs::write(&file, "colour,shape\nred,square\n").unwrap();
    let out = import_enrich(&srv.url, file, dir.path().join("tokens"), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", failure(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CSV_PARSE_ERROR"),
        "{}",
        failure(&out)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("enrichment"),
        "{}",
        failure(&out)
    );
    assert_eq!(
        jobs_started(&srv.url).await,
        "bookstrack_jobs_started_total 0"
    );
    assert!(asked(&ol).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_of_no_books_skips_enrichment() {
    let dir = tempfile::tempdir().unwrap();
    let (ol, srv) = start(&dir.path().join("data"), &[]).await;
    let file = dir.path().join("untitled.csv");
    std::fs::write(&file, goodreads::export(3, |_| true)).unwrap();
    let out = import_enrich(&srv.url, file, dir.path().join("tokens"), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", failure(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let import = section(&stdout, "import summary:");
    assert!(import.contains(&"failed      3"), "{stdout}");
    assert_eq!(
        import.last(),
        Some(&"enrichment skipped: the import produced no books"),
        "{stdout}"
    );
    assert_eq!(
        jobs_started(&srv.url).await,
        "bookstrack_jobs_started_total 1"
    );
    assert!(asked(&ol).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_books_than_one_enrichment_takes_fail_after_the_import_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (ol, srv) = start(&dir.path().join("data"), &["--max-enrich-books", "5"]).await;
    let file = dir.path().join("six.csv");
    std::fs::write(&file, goodreads::export(6, |_| false)).unwrap();
    let out = import_enrich(&srv.url, file, dir.path().join("tokens"), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", failure(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(section(&stdout, "import summary:").contains(&"succeeded   6"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PAYLOAD_TOO_LARGE"),
        "{}",
        failure(&out)
    );
    assert_eq!(
        jobs_started(&srv.url).await,
        "bookstrack_jobs_started_total 1"
    );
    assert!(asked(&ol).await.is_empty());
}

/// The acceptance run on a real Goodreads export (`BOOKSTRACK_SAMPLES_DIR`,
/// set by `scripts/test` when `../shared/samples` exists; never committed):
/// both phases complete and are summarised, the enrichment covering every
/// book imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_goodreads_export_imports_then_enriches() {
    let Ok(samples) = std::env::var("BOOKSTRACK_SAMPLES_DIR") else {
        eprintln!("BOOKSTRACK_SAMPLES_DIR not set: no real export to import and enrich");
        return;
    };
    let mut exports: Vec<PathBuf> = std::fs::read_dir(&samples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with("goodreads_") && name.ends_with(".csv")
        })
        .collect();
    exports.sort();
    let file = exports
        .first()
        .expect("a Goodreads export among the samples")
        .clone();
    let dir = tempfile::tempdir().unwrap();
    let (_ol, srv) = start(&dir.path().join("data"), &[]).await;
    let out = import_enrich(&srv.url, file.clone(), dir.path().join("tokens"), &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        file.display(),
        failure(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let import = section(&stdout, "import summary:");
    let count = |prefix: &str| -> u64 {
        import
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    // Rows merged into an earlier one are not books of their own.
    let books = count("succeeded   ") - count("duplicates  ");
    assert!(books > 0, "{stdout}");
    let enrichment = section(&stdout, "enrichment summary:");
    assert_eq!(
        enrichment.first().copied(),
        Some(format!("total       {books}").as_str()),
        "every imported book enriched: {stdout}"
    );
}
