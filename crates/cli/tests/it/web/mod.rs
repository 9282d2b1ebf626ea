//! The web page at `/`, driven in headless Chromium against the real
//! `bookstrack serve` binary: what a person sees when uploading, reloading,
//! losing the server, and reading the results (docs/web-client.md).

mod browser;
mod results;
mod samples;

use crate::support::*;
use browser::Browser;
use serde_json::Value;
use std::path::Path;
use std::time::Instant;

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

/// Enough rows that the debug server is still importing after a reload and
/// a kill -9 with restart, and few enough to keep the suite's time modest.
const ROWS: usize = 100_000;

fn thousands(n: usize) -> String {
    let digits: Vec<char> = n.to_string().chars().collect();
    let groups: Vec<String> = digits
        .rchunks(3)
        .rev()
        .map(|g| g.iter().collect())
        .collect();
    groups.join(",")
}

/// The seqs a job showed, as runs `{from, to, snap}`, must never repeat a
/// seq, and may skip some only right after a rendered `job_state`.
fn assert_runs(log: &Value) {
    let runs = log.as_array().expect("a log");
    assert!(!runs.is_empty(), "some events shown");
    let mut prev: Option<u64> = None;
    for r in runs {
        let (from, to) = (r["from"].as_u64().unwrap(), r["to"].as_u64().unwrap());
        let snap = r["snap"].as_bool().unwrap();
        assert!(from <= to, "{r}");
        match prev {
            None => assert!(from == 1 || snap, "starts at seq 1: {log}"),
            Some(p) => {
                assert!(from > p, "seq {from} shown again (after {p}): {log}");
                assert!(
                    from == p + 1 || snap,
                    "a gap before {from} with no snapshot: {log}"
                );
            }
        }
        prev = Some(to);
    }
}

async fn job_log(b: &Browser, id: &str) -> Value {
    b.js(&format!("return window.__bt.log('{id}')")).await
}

/// The text of the first element matching `css`.
async fn text(b: &Browser, css: &str) -> String {
    let v = b
        .js(&format!(
            "return document.querySelector(\"{css}\")?.textContent ?? ''"
        ))
        .await;
    v.as_str().unwrap_or_default().to_string()
}

/// Labelled controls, then a file that is no library export: the server's
/// code and message next to the form, and no job.
async fn a_bad_file_shows_the_servers_error(b: &Browser, dir: &Path) {
    assert_eq!(b.state().await, "idle");
    let unlabelled = b
        .js("return [...document.querySelectorAll('input, select, textarea, button')].filter(c => c.labels?.length === 0 && !c.textContent.trim()).map(c => c.id)")
        .await;
    assert_eq!(
        unlabelled,
        serde_json::json!([]),
        "every control is labelled"
    );
    let bad = dir.join("notes.csv");
    std::fs::write(&bad, "hello\nworld\n").unwrap();
    b.upload(&[&bad]).await;
    let err = b
        .wait_for("!document.querySelector('#upload-error').hidden && document.querySelector('#upload-error').textContent", 10)
        .await;
    let err = err.as_str().unwrap();
    assert!(
        err.starts_with("CSV_PARSE_ERROR: unrecognised header"),
        "{err}"
    );
    assert_eq!(b.state().await, "idle", "no job was started");
}

/// Uploads the export and checks the live view; the job's id.
async fn live_progress(b: &Browser, dir: &Path) -> String {
    let export = dir.join("goodreads_library_export.csv");
    std::fs::write(&export, goodreads_csv(ROWS)).unwrap();
    b.upload(&[&export]).await;
    let id = b
        .wait_for(
            "document.querySelector('article.job[data-status=running]')?.dataset.jobId",
            30,
        )
        .await;
    let id = id.as_str().unwrap().to_string();
    let hidden = b
        .js("return document.querySelector('#upload-error').hidden")
        .await;
    assert_eq!(hidden, Value::Bool(true), "the old error is cleared");
    b.wait_for(&format!("window.__bt.seqs('{id}').length > 20"), 30)
        .await;
    let job = format!("article.job[data-job-id='{id}']");
    let counts = text(b, &format!("{job} .counts")).await;
    assert!(
        counts.contains(&format!("of {} processed", thousands(ROWS))),
        "{counts}"
    );
    let current = text(b, &format!("{job} .current")).await;
    // The generator (crates/testkit/src/goodreads.rs) titles row i "Book i: …".
    assert!(current.contains("Book "), "the current title: {current}");
    assert_eq!(b.state().await, "running");
    let said = text(b, "[aria-live]").await;
    assert!(said.contains('%'), "progress announced: {said}");
    let page_url = b.client.current_url().await.unwrap();
    assert!(
        !page_url.as_str().contains("token"),
        "no token in {page_url}"
    );
    b.screenshot("web-running", DESKTOP, None).await;
    b.screenshot("web-running-phone", PHONE, Some(&job)).await;
    b.client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .unwrap();
    id
}

async fn job_status(b: &Browser, id: &str) -> Value {
    b.js(&format!(
        "return document.querySelector(\"article.job[data-job-id='{id}']\").dataset.status"
    ))
    .await
}

/// A reload mid-job: the job and its position come back from sessionStorage.
async fn reload_mid_job(b: &Browser, id: &str) {
    let before = job_log(b, id).await;
    let last_before = before.as_array().unwrap().last().unwrap()["to"]
        .as_u64()
        .unwrap();
    b.client.refresh().await.unwrap();
    b.wait_for(
        &format!("window.__bt && window.__bt.log('{id}').at(-1)?.to > {last_before}"),
        30,
    )
    .await;
    assert_runs(&job_log(b, id).await);
    assert_eq!(
        job_status(b, id).await,
        "running",
        "still importing after the reload: make ROWS larger"
    );
}

/// The finished import: counts and tables.
async fn results_shown(b: &Browser, id: &str) {
    let job = format!("article.job[data-job-id='{id}']");
    let fails = expected_failures(ROWS);
    let (books, fails) = (thousands(ROWS - fails), thousands(fails));
    let summary = b
        .wait_for(
            &format!("document.querySelector(\"{job} .summary\")?.textContent"),
            30,
        )
        .await;
    assert_eq!(
        summary,
        format!("{books} books, 0 duplicates, {fails} failed").as_str()
    );
    let captions = b
        .js(&format!(
            "return [...document.querySelectorAll(\"{job} caption\")].map(c => c.textContent)"
        ))
        .await;
    assert_eq!(
        captions,
        serde_json::json!([
            format!("Imported books (first 200 of {books}; download for all)"),
            format!("Failed rows (first 200 of {fails}; download for all)"),
        ])
    );
    let rows = b
        .js(&format!(
            "return document.querySelectorAll(\"{job} tbody tr\").length"
        ))
        .await;
    assert_eq!(rows, 400, "200 rows of each list");
    b.screenshot("web-complete", DESKTOP, Some(&job)).await;
    b.screenshot("web-complete-phone", PHONE, Some(&job)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_survives_a_reload_and_a_server_kill() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let srv = ServerProc::start(BOOKSTRACK, &data, 0, &[]);
    let port = srv.port;
    b.client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .unwrap();
    b.client.goto(&srv.url).await.unwrap();
    a_bad_file_shows_the_servers_error(&b, dir.path()).await;
    let id = live_progress(&b, dir.path()).await;
    reload_mid_job(&b, &id).await;
    eprintln!("reload checked after {:?}", t0.elapsed());

    // kill -9 and a restart on the same port and data: the page carries on.
    assert_eq!(
        job_status(&b, &id).await,
        "running",
        "still importing before the kill: make ROWS larger"
    );
    srv.kill9();
    b.wait_for(
        "document.querySelector('main').dataset.state === 'reconnecting'",
        15,
    )
    .await;
    let conn = text(&b, &format!("article.job[data-job-id='{id}'] .conn")).await;
    assert!(conn.contains("reconnecting"), "{conn}");
    b.screenshot("web-reconnecting", DESKTOP, None).await;
    let _srv = ServerProc::start(BOOKSTRACK, &data, port, &[]);
    b.wait_for(
        "document.querySelector('main').dataset.state === 'complete'",
        180,
    )
    .await;
    eprintln!("import complete after {:?}", t0.elapsed());
    let log = job_log(&b, &id).await;
    assert_runs(&log);
    results_shown(&b, &id).await;
    eprintln!("web import test took {:?}; shown seqs {log}", t0.elapsed());
    b.quit().await;
}
