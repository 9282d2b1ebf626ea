//! `kill -9` of the real server mid-job, then a restart on the same data dir.

use crate::support::*;
use serde_json::Value;
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_no_finished_job_and_resumes_interrupted_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s1 = ServerProc::start(BOOKSTRACK, dir.path(), 0, &[]);
    let url = s1.url.clone();

    // A job that finishes before the crash.
    let (done, done_tok) = upload(&url, goodreads_csv(10)).await;
    let mut ws = connect(&url, &done, &done_tok, 0, true).await;
    while next_event(&mut ws).await.is_some() {}

    // Two queued jobs (no viewer yet): one keeps its input, one loses it.
    let (queued, queued_tok) = upload(&url, goodreads_csv(500)).await;
    let (lost, lost_tok) = upload(&url, goodreads_csv(500)).await;

    // A large job, killed mid-run.
    const ROWS: usize = 150_000;
    let (big, big_tok) = upload(&url, goodreads_csv(ROWS)).await;
    let mut ws = connect(&url, &big, &big_tok, 0, true).await;
    let mut seen = Vec::new();
    while seen.len() < 5 {
        seen.push(next_event(&mut ws).await.expect("events before the kill"));
    }
    s1.kill9();
    let last_seen = seen.last().unwrap()["seq"].as_u64().unwrap();
    assert_eq!(
        seen.iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (1..=last_seen).collect::<Vec<_>>()
    );
    std::fs::remove_file(dir.path().join("uploads").join(&lost)).unwrap();

    let s2 = ServerProc::start(BOOKSTRACK, dir.path(), 0, &[]);
    let url = s2.url.clone();

    // The big job was interrupted, not finished: it is running again.
    let (_, state) = get(&url, &format!("/api/job-state/{big}"), &big_tok).await;
    assert_eq!(state["status"], "running", "{state}");
    assert!(state["lastSeq"].as_u64().unwrap() >= last_seen);

    // The finished job, its state and its results are all there.
    let (s, state) = get(&url, &format!("/api/job-state/{done}"), &done_tok).await;
    assert_eq!((s, state["status"].as_str()), (200, Some("complete")));
    let (_, res) = get(&url, &format!("/api/jobs/{done}/results"), &done_tok).await;
    assert_eq!(res["data"]["books"].as_array().unwrap().len(), 10);

    // The interrupted job resumes; its viewer resumes by lastSeq and is never
    // silently behind: every event after lastSeq, or — for progress sent
    // after the last checkpoint, which a crash may lose — a job_state
    // snapshot first. No seq it saw is ever sent again.
    let mut ws = connect(&url, &big, &big_tok, last_seen, false).await;
    let mut next = last_seen + 1;
    let mut end: Option<Value> = None;
    let mut processed = 0;
    let mut first = true;
    while let Some(ev) = next_event(&mut ws).await {
        if std::mem::take(&mut first) && ev["type"] == "job_state" {
            next = ev["payload"]["state"]["lastSeq"].as_u64().unwrap() + 1;
            assert!(next > last_seen, "{ev}");
            continue;
        }
        // Retained events the snapshot already covers, which a client drops.
        if ev["seq"]
            .as_u64()
            .is_some_and(|s| s < next && s > last_seen)
        {
            continue;
        }
        assert_eq!(ev["seq"].as_u64(), Some(next), "no gap, no duplicate: {ev}");
        next += 1;
        if let Some(p) = ev["payload"]["booksProcessed"].as_u64() {
            assert!(p >= processed, "progress never goes back");
            processed = p;
        }
        end = Some(ev);
    }
    let end = end.expect("the job ends");
    assert_eq!(end["type"], "job_complete", "{end}");
    assert_eq!(end["payload"]["result"]["totalBooks"], ROWS as u64);
    assert_eq!(
        end["payload"]["result"]["failureCount"],
        expected_failures(ROWS) as u64
    );
    let (_, res) = get(&url, &format!("/api/jobs/{big}/results"), &big_tok).await;
    let books = res["data"]["books"].as_array().unwrap();
    assert_eq!(books.len(), ROWS - expected_failures(ROWS));
    let rows: HashSet<u64> = books.iter().map(|b| b["row"].as_u64().unwrap()).collect();
    assert_eq!(
        rows.len(),
        books.len(),
        "no row imported twice across the restart"
    );

    // The queued job with its input runs; the one without ends with PROCESSING_FAILED.
    let mut ws = connect(&url, &queued, &queued_tok, 0, false).await;
    let mut last = None;
    while let Some(ev) = next_event(&mut ws).await {
        last = Some(ev);
    }
    assert_eq!(last.unwrap()["type"], "job_complete");
    let mut ws = connect(&url, &lost, &lost_tok, 0, false).await;
    let ev = next_event(&mut ws).await.unwrap();
    assert_eq!(ev["type"], "error");
    assert_eq!(ev["payload"]["error"]["code"], "PROCESSING_FAILED");
    let (_, state) = get(&url, &format!("/api/job-state/{lost}"), &lost_tok).await;
    assert_eq!(state["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_sockets_with_1001_exits_cleanly_and_the_job_resumes() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let dir = tempfile::tempdir().unwrap();
    let mut s1 = ServerProc::start(BOOKSTRACK, dir.path(), 0, &[]);
    let (job, token) = upload(&s1.url, goodreads_csv(150_000)).await;
    let mut ws = connect(&s1.url, &job, &token, 0, true).await;
    let mut last = 0;
    for _ in 0..3 {
        last = next_event(&mut ws).await.unwrap()["seq"].as_u64().unwrap();
    }
    let pid = s1.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let code = loop {
        match ws.next().await {
            Some(Ok(Message::Close(f))) => break f.map(|f| u16::from(f.code)),
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if let Some(s) = v["seq"].as_u64() {
                    last = s;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(code, Some(1001));
    let status = s1.child.wait().unwrap();
    assert!(status.success(), "clean exit: {status}");

    let s2 = ServerProc::start(BOOKSTRACK, dir.path(), 0, &[]);
    let mut ws = connect(&s2.url, &job, &token, last, false).await;
    let mut next = last + 1;
    let mut end = None;
    while let Some(ev) = next_event(&mut ws).await {
        assert_eq!(ev["seq"].as_u64(), Some(next));
        next += 1;
        end = Some(ev);
    }
    assert_eq!(end.unwrap()["type"], "job_complete");
}

/// The import command keeps going while its server is killed and restarted
/// on the same port: it reconnects, resumes, and prints the right summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_command_survives_a_server_kill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A real Goodreads export when the samples are there, else our own.
    let (file, rows, failed) = match std::env::var("BOOKSTRACK_SAMPLES_DIR") {
        Ok(d) => {
            let f = std::path::Path::new(&d)
                .join("goodreads_genekaufman_gr-exp-analysis_978rows_2016.csv");
            (f, 978, 0)
        }
        Err(_) => {
            let f = dir.path().join("goodreads_library_export.csv");
            std::fs::write(&f, goodreads_csv(900)).unwrap();
            (f, 900, expected_failures(900))
        }
    };
    let data = dir.path().join("data");
    // One pipeline at a time, and a long job ahead: ours is queued when the
    // server dies, and runs after the restart.
    let s1 = ServerProc::start(BOOKSTRACK, &data, 0, &["--max-running-jobs", "1"]);
    let (port, url) = (s1.port, s1.url.clone());
    let (blocker, blocker_tok) = upload(&url, goodreads_csv(150_000)).await;
    let _blocker_ws = connect(&url, &blocker, &blocker_tok, 0, true).await;
    let cli = std::process::Command::new(BOOKSTRACK)
        .args(["import"])
        .arg(&file)
        .args(["--server", &url])
        .env("BOOKSTRACK_TOKEN_DIR", dir.path().join("tokens"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    s1.kill9();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _s2 = ServerProc::start(BOOKSTRACK, &data, port, &["--max-running-jobs", "1"]);
    let out = tokio::task::spawn_blocking(move || cli.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("total       {rows}")), "{stdout}");
    assert!(
        stdout.contains(&format!("succeeded   {}", rows - failed)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("failed      {failed}")),
        "{stdout}"
    );
    let seqs: Vec<u64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "each event once, in order"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("reconnected"),
        "the kill was lived through"
    );
    let tokens = std::fs::read_dir(dir.path().join("tokens"))
        .map(Iterator::count)
        .unwrap_or(0);
    assert_eq!(tokens, 0, "the token file is gone once the job ended");
}
