//! `bookstrack catalog load` on dump files (plain and gzip), then offline
//! enrichment from what it loaded, through the real binary.

use crate::support::*;
use std::io::Write;

fn dump_line(key: &str, title: &str, isbn13: &str, publisher: &str) -> String {
    format!(
        "/type/edition\t/books/{key}\t2\t2025-01-01T00:00:00.000000\t{{\"title\": \"{title}\", \"publishers\": [\"{publisher}\"], \"publish_date\": \"1999\", \"isbn_13\": [\"{isbn13}\"], \"number_of_pages\": 200, \"key\": \"/books/{key}\"}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loaded_dumps_enrich_offline() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("ol_dump_editions_sample.txt");
    std::fs::write(
        &plain,
        dump_line("OL1M", "Plain Book", "9780306406157", "Plain Press") + "not a dump line\n",
    )
    .unwrap();
    let gz = dir.path().join("ol_dump_editions_more.txt.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(dump_line("OL2M", "Zipped Book", "9780140328721", "Zip Press").as_bytes())
        .unwrap();
    enc.finish().unwrap();
    let data = dir.path().join("data");
    for f in [&plain, &gz] {
        let out = std::process::Command::new(BOOKSTRACK)
            .args(["catalog", "load"])
            .arg(f)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 editions with an ISBN"));
    }
    let srv = ServerProc::start(
        BOOKSTRACK,
        &data,
        0,
        &["--enrich-offline", "--ready-timeout-secs", "0"],
    );
    let body = serde_json::json!({"books": [
        {"title": "?", "isbn": "9780306406157"}, {"title": "Zipped Book"}, {"title": "?", "isbn": "9780000000002"}]});
    let r = http()
        .post(format!("{}/api/enrichment/start", srv.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let (job, token) = (
        v["data"]["jobId"].as_str().unwrap(),
        v["data"]["token"].as_str().unwrap(),
    );
    let mut ws = connect(&srv.url, job, token, 0, false).await;
    let mut last = None;
    while let Some(e) = next_event(&mut ws).await {
        last = Some(e);
    }
    let result = &last.unwrap()["payload"]["result"];
    assert_eq!(
        (
            result["successCount"].as_u64(),
            result["failureCount"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let (_, res) = get(&srv.url, &format!("/api/jobs/{job}/results"), token).await;
    assert_eq!(
        res["data"]["books"][0]["metadata"]["publisher"],
        "Plain Press"
    );
    assert_eq!(
        res["data"]["books"][1]["metadata"]["publisher"],
        "Zip Press"
    );
    assert_eq!(res["data"]["books"][1]["provider"], "local_catalog");
}
