//! `--max-csv-field-bytes` at its edge: a field of exactly the limit is
//! imported, one byte more makes its row an error naming the row, and the
//! rows after it are still imported.

use crate::common::*;
use std::time::Duration;

/// A Goodreads export whose rows have these reviews (row 2 is the first).
fn with_reviews(reviews: &[String]) -> String {
    let rows = goodreads_csv(reviews.len(), &[]);
    let mut out = String::new();
    for (i, line) in rows.lines().enumerate() {
        let line = match i.checked_sub(1).and_then(|k| reviews.get(k)) {
            Some(r) => line.replacen("\"Good<br/>read\"", &format!("\"{r}\""), 1),
            None => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_past_the_limit_is_a_row_error_and_the_rest_is_imported() {
    const LIMIT: usize = 1000;
    let srv = TestServer::start(|c| {
        c.max_csv_field_bytes = LIMIT;
        c.ready_timeout = Duration::ZERO;
    })
    .await;
    let csv = with_reviews(&["x".repeat(LIMIT), "y".repeat(LIMIT + 1), "short".into()]);
    let (job, token) = srv.start_import(&csv).await;
    let state = srv.wait_terminal(&job, &token).await;
    assert_eq!(state["status"], "complete", "{state}");
    let (s, res) = srv
        .get(&format!("/api/jobs/{job}/results"), Some(&token))
        .await;
    assert_eq!(s, 200);
    let books = res["data"]["books"].as_array().unwrap();
    let rows: Vec<u64> = books.iter().map(|b| b["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, vec![2, 4], "the rows before and after the long field");
    assert_eq!(
        books[0]["review"].as_str().unwrap().len(),
        LIMIT,
        "at the limit"
    );
    assert_eq!(books[1]["review"], "short");
    let errors = res["data"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["row"], 3);
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains("\"My Review\"")
            && message.contains(&format!("{} bytes", LIMIT + 1))
            && message.contains(&format!("limit of {LIMIT} bytes")),
        "{message}"
    );
    srv.stop().await;
}
