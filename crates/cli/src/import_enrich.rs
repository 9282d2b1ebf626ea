//! `bookstrack import FILE --enrich`: import a library export, then enrich
//! exactly the books that import produced, in one command. Each phase has
//! its own progress bar and its own summary; `--json` prints both phases'
//! events, one per line, and nothing else on stdout.
//!
//! "The books imported" are the `books` of the import job's results (rows
//! merged into an earlier row of the same book are not among them), each
//! carrying its stable `workId`. They are enriched by those `workIds`: the
//! server indexes them in the same transaction that logs the import's
//! `job_complete`, so they resolve as soon as that event has arrived, and
//! the server itself reads each book's title, author and ISBN from what it
//! imported.

use crate::watch::{self, OutputArgs};
use anyhow::Result;
use bookstrack_client::Client;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;

pub async fn import_enrich(server: &str, file: &Path, out: &OutputArgs) -> Result<ExitCode> {
    let client = Client::new(server)?;
    let started = client.start_import(file).await?;
    if !out.json {
        eprintln!("import: job {} started", started.job_id);
    }
    let events = client.follow(&started, watch::options());
    let import = watch::follow_job(&client, events, out, true).await?;
    // A failed import, or one given up on: nothing is enriched.
    let Some((result, results)) = import.output else {
        return Ok(import.code);
    };
    if !out.json {
        println!("import summary:");
        watch::print_summary(&result, &results);
    }
    let work_ids = imported_work_ids(&results)?;
    if work_ids.is_empty() {
        if out.json {
            eprintln!("enrichment skipped: the import produced no books");
        } else {
            println!("enrichment skipped: the import produced no books");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let count = work_ids.len();
    // The import's works are reachable with its token only (its newest,
    // if it was refreshed while the import ran).
    let token = watch::options()
        .tokens
        .get(&started.job_id)
        .map_or(started.token.clone(), |t| t.token);
    let started = client
        .start_enrichment_presenting(&json!({ "workIds": work_ids }), &[&token])
        .await?;
    if !out.json {
        eprintln!(
            "enrichment: job {} started for the {count} imported books",
            started.job_id
        );
    }
    let events = client.follow(&started, watch::options());
    let enrichment = watch::follow_job(&client, events, out, !out.json).await?;
    if let Some((result, results)) = &enrichment.output {
        println!("enrichment summary:");
        watch::print_summary(result, results);
    }
    Ok(enrichment.code)
}

/// The work ids of an import's books, in their order, each once. Every
/// imported book has one; a book without is refused rather than silently
/// left out of "the books imported".
fn imported_work_ids(results: &Value) -> Result<Vec<String>> {
    let books = results
        .get("books")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut seen = HashSet::new();
    let mut ids = Vec::with_capacity(books.len());
    for b in books {
        let Some(id) = b.get("workId").and_then(Value::as_str) else {
            let row = b.get("row").and_then(Value::as_u64).unwrap_or(0);
            anyhow::bail!(
                "the import's book of row {row} has no workId: it cannot be enriched by work id"
            );
        };
        if seen.insert(id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_ids_keep_the_import_order_once_each() {
        let results = json!({"books": [
            {"row": 2, "workId": "wb"}, {"row": 3, "workId": "wa"}, {"row": 4, "workId": "wb"},
        ]});
        assert_eq!(imported_work_ids(&results).unwrap(), ["wb", "wa"]);
    }

    #[test]
    fn no_books_is_no_work_ids() {
        assert!(imported_work_ids(&json!({"books": []})).unwrap().is_empty());
        assert!(imported_work_ids(&json!({})).unwrap().is_empty());
    }

    #[test]
    fn a_book_without_a_work_id_is_an_error_naming_its_row() {
        let results = json!({"books": [{"row": 2, "workId": "wa"}, {"row": 7, "title": "X"}]});
        let e = imported_work_ids(&results).unwrap_err().to_string();
        assert!(e.contains("row 7"), "{e}");
    }
}
