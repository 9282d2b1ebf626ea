//! Real Goodreads exports (from `BOOKSTRACK_SAMPLES_DIR`, which scripts/test
//! sets when `../shared/samples` exists; never committed), chosen together:
//! one job each, followed side by side, every row accounted for.

use super::browser::Browser;
use crate::support::{ServerProc, BOOKSTRACK};
use std::path::{Path, PathBuf};

fn goodreads_exports() -> Vec<PathBuf> {
    let Some(dir) = std::env::var_os("BOOKSTRACK_SAMPLES_DIR") else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("goodreads_") && name.ends_with(".csv")
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_goodreads_exports_side_by_side() {
    let files = goodreads_exports();
    if files.is_empty() {
        eprintln!("skipped: no Goodreads export in BOOKSTRACK_SAMPLES_DIR");
        return;
    }
    let Some(b) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let srv = ServerProc::start(BOOKSTRACK, &dir.path().join("data"), 0, &[]);
    b.client.goto(&srv.url).await.unwrap();
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    b.upload(&paths).await;
    let n = files.len();
    b.wait_for(
        &format!("document.querySelectorAll('article.job[data-status=complete] .summary:not(:empty)').length === {n}"),
        120,
    )
    .await;
    assert_eq!(b.state().await, "complete");
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let rows = csv::Reader::from_path(f).unwrap().records().count();
        let counts = b
            .js(&format!(
                "const j = [...document.querySelectorAll('article.job')].find(a => a.querySelector('.job-title').textContent === 'Import: {name}');
                 return j.querySelector('.summary').textContent.match(/[0-9,]+/g).map(s => Number(s.replaceAll(',', '')));"
            ))
            .await;
        let counts: Vec<usize> = serde_json::from_value(counts).unwrap();
        assert_eq!(
            counts.iter().sum::<usize>(),
            rows,
            "{name}: books, duplicates and failed rows make up every row {counts:?}"
        );
        assert!(counts[0] > 0, "{name}: {counts:?}");
    }
    b.quit().await;
}
