//! Acceptance against real library exports. They are not committed: the
//! directory comes from `BOOKSTRACK_SAMPLES_DIR`, which `scripts/test` sets
//! when `../shared/samples` exists.

use crate::support::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The one sample that is broken on purpose: re-saved by a spreadsheet.
const NEGATIVE: &str = "EXCEL_MANGLED";

fn exports(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in [dir.to_path_buf(), dir.join("bookwyrm_fixtures")] {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if matches!(p.extension().and_then(|e| e.to_str()), Some("csv" | "tsv")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn valid_isbn13(s: &str) -> bool {
    s.len() == 13
        && (s.starts_with("978") || s.starts_with("979"))
        && s.bytes()
            .enumerate()
            .map(|(i, c)| (c - b'0') as u32 * if i % 2 == 0 { 1 } else { 3 })
            .sum::<u32>()
            % 10
            == 0
}

/// Row number (header = 1) → the valid ISBN-13s its identifier columns hold,
/// and the number of data rows.
fn source_isbns(bytes: &[u8], tsv: bool) -> (HashMap<u64, Vec<String>>, u64) {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .delimiter(if tsv { b'\t' } else { b',' })
        .quoting(!tsv)
        .from_reader(bytes);
    let header: Vec<String> = r
        .byte_headers()
        .unwrap()
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .to_lowercase()
        })
        .collect();
    let cols: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| matches!(h.as_str(), "isbn13" | "isbn/uid" | "isbns" | "isbn"))
        .map(|(i, _)| i)
        .collect();
    let mut out = HashMap::new();
    let mut rows = 0;
    for rec in r.byte_records() {
        let rec = rec.unwrap();
        rows += 1;
        let mut found = Vec::new();
        for &c in &cols {
            let text = String::from_utf8_lossy(rec.get(c).unwrap_or(b""));
            for run in text.split(|ch: char| !ch.is_ascii_digit()) {
                if valid_isbn13(run) {
                    found.push(run.to_string());
                }
            }
        }
        out.insert(rows + 1, found);
    }
    (out, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_exports_import_over_http_and_websocket() {
    let Ok(dir) = std::env::var("BOOKSTRACK_SAMPLES_DIR") else {
        eprintln!("BOOKSTRACK_SAMPLES_DIR not set: no real exports to check");
        return;
    };
    let files = exports(Path::new(&dir));
    assert!(files.len() >= 10, "expected the real exports in {dir}");
    let data = tempfile::tempdir().unwrap();
    let srv = ServerProc::start(BOOKSTRACK, data.path(), 0, &[]);
    for file in files {
        let name = file.display().to_string();
        let bytes = std::fs::read(&file).unwrap();
        let (expected, rows) = source_isbns(&bytes, name.ends_with(".tsv"));
        let (job, token) = upload(&srv.url, bytes).await;
        let mut ws = connect(&srv.url, &job, &token, 0, true).await;
        let mut events = Vec::new();
        while let Some(e) = next_event(&mut ws).await {
            events.push(e);
        }
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "{name}: seq 1..N"
        );
        assert_eq!(events[0]["type"], "job_started", "{name}");
        assert!(events[1..events.len() - 1]
            .iter()
            .all(|e| e["type"] == "job_progress"));
        let end = events.last().unwrap();
        assert_eq!(end["type"], "job_complete", "{name}");
        let result = &end["payload"]["result"];
        assert_eq!(
            result["totalBooks"], rows,
            "{name}: totalBooks is the row count"
        );
        let ok = result["successCount"].as_u64().unwrap();

        let (_, res) = get(&srv.url, &format!("/api/jobs/{job}/results"), &token).await;
        let books = res["data"]["books"].as_array().unwrap();
        let by_row: HashMap<u64, &Value> = books
            .iter()
            .map(|b| (b["row"].as_u64().unwrap(), b))
            .collect();
        for (row, isbns) in &expected {
            let Some(book) = by_row.get(row) else {
                continue;
            };
            match (isbns.first(), book["isbn13"].as_str()) {
                (Some(want), got) => assert_eq!(got, Some(want.as_str()), "{name}: row {row}"),
                (None, Some(got)) => {
                    // Only an ISBN-10 in the source: its ISBN-13 is derived, never invented.
                    let ten = book["isbn10"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{name}: row {row} got {got} from nowhere"));
                    assert_eq!(&got[3..12], &ten[..9], "{name}: row {row}");
                }
                (None, None) => {}
            }
        }
        if name.contains(NEGATIVE) {
            let errors = res["data"]["errors"].as_array().unwrap();
            assert!(
                errors.len() as u64 == rows - ok && !errors.is_empty(),
                "{name}"
            );
            assert!(errors
                .iter()
                .all(|e| e["message"].as_str().unwrap().contains("E+")));
        } else {
            assert!(
                ok * 100 >= rows * 99,
                "{name}: {ok} of {rows} rows imported"
            );
        }
        eprintln!("{name}: {ok}/{rows} rows, {} events", events.len());
    }
}
