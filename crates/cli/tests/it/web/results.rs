//! Results on the page: a chosen CSV format, one-click enrichment of the
//! imported books (against a fake Open Library on loopback), a list of
//! ISBNs, the first test shelf photo (`bookstrack_testkit::shelf::classic`)
//! read by Tesseract, and the CSV download.

use super::browser::Browser;
use crate::support::{ServerProc, BOOKSTRACK};
use bookstrack_testkit::shelf::{classic, SHELF};
use fantoccini::Locator;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A valid ISBN-13 built from `n`.
fn isbn13(n: u64) -> String {
    let body = format!("978{n:09}");
    let sum: u32 = body
        .chars()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).unwrap() * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// Open Library's `/api/books`: every ISBN asked for is a Penguin book,
/// titled as on the shelf when it is one of the shelf's.
struct Books;

fn title_of(isbn: &str) -> (String, String) {
    (0..SHELF.len())
        .find(|&i| isbn13(500 + i as u64) == isbn)
        .map(|i| (SHELF[i].0.to_string(), SHELF[i].1.to_string()))
        .unwrap_or_else(|| (format!("Book {isbn}"), "Some Author".into()))
}

impl Respond for Books {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let keys = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "bibkeys")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let mut body = serde_json::Map::new();
        for key in keys.split(',').filter(|k| !k.is_empty()) {
            let isbn = key.trim_start_matches("ISBN:");
            let (title, author) = title_of(isbn);
            body.insert(
                key.to_string(),
                json!({
                    "key": "/books/OL1M", "title": title,
                    "authors": [{"name": author}],
                    "identifiers": {"isbn_13": [isbn]},
                    "publishers": [{"name": "Penguin"}],
                    "publish_date": "1988", "number_of_pages": 321,
                }),
            );
        }
        ResponseTemplate::new(200).set_body_json(Value::Object(body))
    }
}

async fn wait_complete(b: &Browser, pipeline: &str, n: usize) -> String {
    let sel = format!("article.job[data-pipeline={pipeline}][data-status=complete]");
    let id = b
        .wait_for(
            &format!("document.querySelectorAll('{sel}').length >= {n} && document.querySelector('{sel} .summary')?.textContent && document.querySelector('{sel}').dataset.jobId"),
            90,
        )
        .await;
    format!("article.job[data-job-id='{}']", id.as_str().unwrap())
}

async fn column(b: &Browser, job: &str, table: usize, col: usize) -> Vec<String> {
    let v = b
        .js(&format!(
            "return [...document.querySelectorAll(\"{job} table\")[{table}].tBodies[0].rows].map(r => r.cells[{col}].textContent)"
        ))
        .await;
    serde_json::from_value(v).unwrap()
}

/// An export in a chosen format; its books enriched in one click; its CSV download.
async fn import_then_enrich(b: &Browser, dir: &Path) {
    let mut csv = String::from("Title,Author,ISBN\n");
    for (i, (t, a)) in SHELF.iter().enumerate() {
        csv.push_str(&format!("{t},{a},{}\n", isbn13(500 + i as u64)));
    }
    let export = dir.join("my-books.csv");
    std::fs::write(&export, csv).unwrap();
    let format = b.client.find(Locator::Css("#format")).await.unwrap();
    format.select_by_value("generic").await.unwrap();
    b.upload(&[&export]).await;
    let import = wait_complete(b, "csv_import", 1).await;
    assert_eq!(
        column(b, &import, 0, 1).await,
        SHELF.map(|(t, _)| t.to_string())
    );
    b.click(&format!("{import} .enrich")).await;
    let enriched = wait_complete(b, "batch_enrichment", 1).await;
    assert_eq!(
        column(b, &enriched, 0, 3).await,
        vec!["Penguin"; 8],
        "publishers"
    );
    let isbns: Vec<String> = (0..8).map(|i| isbn13(500 + i)).collect();
    assert_eq!(column(b, &enriched, 0, 2).await, isbns);

    b.js("window.__blobs = []; const o = URL.createObjectURL; URL.createObjectURL = (x) => { window.__blobs.push(x); return o(x); };").await;
    b.click(&format!("{import} .dl-csv")).await;
    let text = b.js("return window.__blobs[0].text()").await;
    let text = text.as_str().unwrap();
    let mut lines = text.lines();
    assert!(
        lines.next().unwrap().split(',').any(|h| h == "title"),
        "{text}"
    );
    assert_eq!(lines.count(), 8, "{text}");
}

/// A typed list of ISBNs becomes its own enrichment job.
async fn isbn_list(b: &Browser) {
    let isbns = [isbn13(900), isbn13(901)].join("\n");
    let field = b.client.find(Locator::Css("#isbns")).await.unwrap();
    field.send_keys(&isbns).await.unwrap();
    b.click("#isbn-form button[type=submit]").await;
    let listed = wait_complete(b, "batch_enrichment", 2).await;
    assert_eq!(
        column(b, &listed, 0, 2).await,
        vec![isbn13(900), isbn13(901)]
    );
}

/// A shelf photo: the books on it, found in the library just imported.
async fn shelf_photo(b: &Browser, dir: &Path) {
    let photo = dir.join("shelf.png");
    classic(&SHELF).save(&photo).unwrap();
    b.upload(&[&photo]).await;
    let scan = wait_complete(b, "ai_scan", 1).await;
    let titles = column(b, &scan, 0, 0).await;
    let found = SHELF
        .iter()
        .filter(|(t, _)| titles.iter().any(|x| x == t))
        .count();
    assert!(found >= 6, "the shelf's titles: {titles:?}");
    let matched = column(b, &scan, 0, 4).await;
    let known = matched.iter().filter(|m| *m == "in your library").count();
    assert!(known >= 6, "{matched:?}");
    b.screenshot("web-scan", (1280, 900), Some(&scan)).await;

    // Two photos at once go to the batch endpoint: one job for both.
    let second = dir.join("shelf-2.png");
    std::fs::copy(&photo, &second).unwrap();
    b.upload(&[&photo, &second]).await;
    let batch = wait_complete(b, "ai_scan", 2).await;
    let title = b
        .js(&format!(
            "return document.querySelector(\"{batch} .job-title\").textContent"
        ))
        .await;
    assert_eq!(title, "Shelf scan: shelf.png, shelf-2.png");
    let counts = b
        .js(&format!(
            "return document.querySelector(\"{batch} .counts\").textContent"
        ))
        .await;
    // Counted in books: every book found on both photos read.
    let counts = counts.as_str().unwrap();
    let n: Vec<u64> = counts
        .split(' ')
        .take(3)
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        counts.contains(" books read · ") && n.len() == 2 && n[0] == n[1] && n[0] >= 12,
        "{counts}"
    );
    let photos = column(b, &batch, 0, 3).await;
    assert!(
        photos.contains(&"1".into()) && photos.contains(&"2".into()),
        "books from both photos: {photos:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrichment_isbns_and_a_shelf_photo() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let t0 = Instant::now();
    let ol = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/books"))
        .respond_with(Books)
        .mount(&ol)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let ol_url = ol.uri();
    let flags = [
        "--enrich-providers",
        "cache,openlibrary",
        "--openlibrary-url",
        &ol_url,
        "--openlibrary-rate",
        "50",
    ];
    let srv = ServerProc::start(BOOKSTRACK, &dir.path().join("data"), 0, &flags);
    b.client.set_window_size(1280, 900).await.unwrap();
    b.client.goto(&srv.url).await.unwrap();
    import_then_enrich(&b, dir.path()).await;
    isbn_list(&b).await;
    shelf_photo(&b, dir.path()).await;
    assert_eq!(b.state().await, "complete", "five jobs, all complete");
    assert_eq!(
        b.js("return document.querySelectorAll('article.job').length")
            .await,
        5
    );
    eprintln!("web results test took {:?}", t0.elapsed());
    b.quit().await;
}
