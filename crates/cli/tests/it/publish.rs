//! `bookstrack publish` from a shell script, and an external job through
//! a SIGKILL of the server (docs/PROTOCOL.md §21).

use crate::support::*;
use bookstrack_client::{Client, ReconnectPolicy, StreamOptions};
use bookstrack_protocol::{Envelope, Payload};
use std::process::Command;
use std::time::Duration;

/// The seeds' worker loop as a shell script: a few lines per event.
const SCRIPT: &str = r#"
set -e
bookstrack publish start --pipeline batch_enrichment --total 20 > job.json
for i in $(seq 1 20); do
  seq=$(bookstrack publish progress "$i/20" --status "Enriching $i of 20")
  # Run again, as a script would after a lost answer: the same event.
  if [ $((i % 5)) -eq 0 ]; then
    again=$(bookstrack publish progress "$i/20" --status "Enriching $i of 20" --state retry.json)
    [ "$again" = "$seq" ] || exit 8
  fi
  cp bookstrack-job.json retry.json
done
# A stale event is refused and the script sees it.
if bookstrack publish progress 3/20 2> stale.txt; then exit 9; fi
bookstrack publish complete --result '{"books": []}' --success 19 --failure 1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_script_publishes_a_job() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProc::start(BOOKSTRACK, data.path(), 0, &[]);
    let work = tempfile::tempdir().unwrap();
    let bin_dir = std::path::Path::new(BOOKSTRACK).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let out = Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .current_dir(work.path())
        .env("PATH", path)
        .env("BOOKSTRACK_SERVER", &server.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stale = std::fs::read_to_string(work.path().join("stale.txt")).unwrap();
    assert!(stale.contains("STALE_PROGRESS"), "{stale}");
    let state = work.path().join("bookstrack-job.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&state).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the state file holds the publisher key"
    );
    let job: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("job.json")).unwrap()).unwrap();
    assert!(
        job.get("publisherKey").is_none(),
        "stdout shows the viewers' part only"
    );
    let (id, token) = (
        job["jobId"].as_str().unwrap(),
        job["token"].as_str().unwrap(),
    );
    let mut ws = connect(&server.url, id, token, 0, false).await;
    let (msgs, _) = read_to_close(&mut ws).await;
    let events: Vec<_> = msgs.into_iter().filter(|m| m["seq"].is_u64()).collect();
    assert_eq!(
        assert_contiguous(&events, 1),
        22,
        "job_started, 20 items once each, the end"
    );
    let end = &events[21]["payload"]["result"];
    assert_eq!(
        (end["totalBooks"].as_u64(), end["successCount"].as_u64()),
        (Some(20), Some(19))
    );
}

/// SIGKILL mid-job: the publisher carries on after its retries once the
/// server is back, and the viewer sees every event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_job_survives_a_kill9_of_the_server() {
    let data = tempfile::tempdir().unwrap();
    let fast = ["--publish-rate", "1000000"];
    let s1 = ServerProc::start(BOOKSTRACK, data.path(), 0, &fast);
    let (url, port) = (s1.url.clone(), s1.port);
    let Some((worker, job)) = Worker::launch(&url, 1000, 10, 3).await else {
        return;
    };
    let client = Client::new(url).unwrap();
    let reconnect = ReconnectPolicy {
        base: Duration::from_millis(50),
        cap: Duration::from_millis(300),
        max_attempts: 100,
        jitter: 0.2,
    };
    let mut stream = client.follow(
        &job,
        StreamOptions {
            reconnect,
            ..Default::default()
        },
    );
    let mut events: Vec<Envelope> = Vec::new();
    let mut s1 = Some(s1);
    let mut s2 = None;
    while let Some(ev) = stream.next().await {
        events.push(ev.expect("no stream error"));
        if events.len() == 300 {
            s1.take().unwrap().kill9();
            s2 = Some(ServerProc::start(BOOKSTRACK, data.path(), port, &fast));
        }
    }
    assert!(s2.is_some(), "the server was killed mid-job");
    let last = worker.finished().await;
    assert_eq!(last["lastSeq"], 1002);
    assert!(
        last["retries"].as_u64().unwrap() > 0,
        "the publisher met the dead server mid-job and retried"
    );
    let seqs: Vec<u64> = events.iter().filter_map(Envelope::seq).collect();
    assert_eq!(seqs, (1..=1002).collect::<Vec<_>>(), "every event once");
    assert!(matches!(
        events.last().unwrap().payload(),
        Payload::JobComplete { .. }
    ));
    assert!(stream.reconnects >= 1);
}
