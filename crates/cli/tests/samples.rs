//! Acceptance against real library exports. They are not committed: the
//! directory comes from `BOOKSTRACK_SAMPLES_DIR`, which `scripts/test` sets
//! when `../shared/samples` exists.

mod support;

use std::collections::HashMap;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_goodreads_exports_import_over_http_and_websocket() {
    let Ok(dir) = std::env::var("BOOKSTRACK_SAMPLES_DIR") else {
        eprintln!("BOOKSTRACK_SAMPLES_DIR not set: no real exports to check");
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("goodreads_") && n.ends_with(".csv")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no goodreads_*.csv in {dir}");
    let data = tempfile::tempdir().unwrap();
    let srv = ServerProc::start(data.path(), 0, &[]);
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(&bytes[..]);
        let header = reader.headers().unwrap().clone();
        let isbn13_col = header.iter().position(|h| h == "ISBN13").unwrap();
        let id_col = header.iter().position(|h| h == "Book Id").unwrap();
        let mut expected_isbn: HashMap<String, String> = HashMap::new();
        let mut rows = 0u64;
        for rec in reader.records() {
            let rec = rec.unwrap();
            rows += 1;
            let raw: String = rec[isbn13_col]
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            if valid_isbn13(&raw) {
                expected_isbn.insert(rec[id_col].to_string(), raw);
            }
        }
        let (job, token) = upload(&srv.url, bytes).await;
        let mut ws = connect(&srv.url, &job, &token, 0, true).await;
        let mut events = Vec::new();
        while let Some(e) = next_event(&mut ws).await {
            events.push(e);
        }
        let name = file.display();
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
        assert!(
            ok * 100 >= rows * 99,
            "{name}: {ok} of {rows} rows imported"
        );

        let (_, res) = get(&srv.url, &format!("/api/jobs/{job}/results"), &token).await;
        for b in res["data"]["books"].as_array().unwrap() {
            let id = b["sourceId"].as_str().unwrap();
            if let Some(isbn) = expected_isbn.get(id) {
                assert_eq!(
                    b["isbn13"].as_str(),
                    Some(isbn.as_str()),
                    "{name}: book {id}"
                );
            }
        }
        eprintln!("{name}: {ok}/{rows} rows, {} events", events.len());
    }
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
