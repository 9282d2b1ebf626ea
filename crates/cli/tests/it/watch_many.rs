//! `bookstrack watch JOB JOB…` through the binary: several running jobs
//! over one socket, each job's events once and in order, tokens taken from
//! the token files the CLI keeps; `--token` with several jobs is a usage
//! error.

use crate::support::*;
use bookstrack_client::{FileTokenStore, StoredToken, TokenStore};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

async fn watch(url: &str, tokens: &Path, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(BOOKSTRACK);
    cmd.arg("watch")
        .args(args)
        .args(["--server", url])
        .env("BOOKSTRACK_TOKEN_DIR", tokens);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_jobs_over_one_socket_each_once_and_in_order() {
    let data = tempfile::tempdir().unwrap();
    let srv = ServerProc::start(BOOKSTRACK, data.path(), 0, &["--enable-synthetic-jobs"]);
    let tokens = tempfile::tempdir().unwrap();
    let store = FileTokenStore::new(tokens.path().to_path_buf());
    let jobs = synthetic_jobs(&srv.url, 3, 25, 20).await;
    for (id, token) in &jobs {
        store.put(id, &StoredToken::bare(token.clone())).unwrap();
    }
    let mut args: Vec<&str> = jobs.iter().map(|(id, _)| id.as_str()).collect();
    args.push("--json");
    let out = watch(&srv.url, tokens.path(), &args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seqs: HashMap<String, Vec<u64>> = HashMap::new();
    let mut last_type: HashMap<String, String> = HashMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let job = v["jobId"].as_str().unwrap().to_string();
        seqs.entry(job.clone())
            .or_default()
            .extend(v["seq"].as_u64());
        last_type.insert(job, v["type"].as_str().unwrap().to_string());
    }
    for (id, _) in &jobs {
        assert_eq!(seqs[id], (1..=27).collect::<Vec<u64>>(), "{id}");
        assert_eq!(last_type[id], "job_complete");
    }

    let out = watch(
        &srv.url,
        tokens.path(),
        &[&jobs[0].0, &jobs[1].0, "--token", "t"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
}
