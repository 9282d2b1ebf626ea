//! Publishers of external jobs (docs/PROTOCOL.md §21) against a real
//! server, with viewers behind a proxy that cuts their connections.

use bookstrack_client::{Client, JobStream, PublishPolicy, ReconnectPolicy, StreamOptions};
use bookstrack_protocol::{Envelope, JobStarted, Payload, Pipeline};
use bookstrack_testkit::{Proxy, TestServer, Worker};
use std::time::Duration;

fn fast() -> ReconnectPolicy {
    ReconnectPolicy {
        base: Duration::from_millis(50),
        cap: Duration::from_millis(400),
        max_attempts: 50,
        jitter: 0.2,
    }
}

fn viewer_of(job: &str, token: &str) -> JobStarted {
    JobStarted {
        job_id: job.into(),
        token: token.into(),
        message: "external".into(),
        total_photos: None,
        expires_at: None,
        refreshable_from: None,
    }
}

/// Every event to the end, cutting the viewer's connection every `cut_every`.
async fn watch(stream: &mut JobStream, proxy: &Proxy, cut_every: usize) -> Vec<Envelope> {
    let mut out = Vec::new();
    while let Some(ev) = stream.next().await {
        out.push(ev.expect("no stream error"));
        if out.len() % cut_every == 0 {
            proxy.cut();
        }
    }
    out
}

fn assert_once_each(events: &[Envelope], last: u64) {
    let seqs: Vec<u64> = events.iter().filter_map(Envelope::seq).collect();
    assert_eq!(
        seqs,
        (1..=last).collect::<Vec<_>>(),
        "seq 1..N, no gap, no duplicate"
    );
    assert!(
        events
            .iter()
            .all(|e| !matches!(e.payload(), Payload::JobState { .. })),
        "never a snapshot: every event was replayed"
    );
    match events.last().unwrap().payload() {
        Payload::JobComplete { result } => assert_eq!(result["successCount"], 1000),
        other => panic!("ended with {other:?}"),
    }
}

/// The acceptance: a Python worker of 1,000 items, every tenth
/// request sent twice as if its answer were lost, and a viewer over a
/// cutting proxy that sees seq 1..N once each and the result at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_worker_loop_reaches_a_viewer_gap_free() {
    let srv = TestServer::start(|c| c.publish.rate_per_job = 100_000.0).await;
    let proxy = Proxy::start(srv.addr).await;
    let Some((worker, job)) = Worker::launch(&srv.url, 1000, 10, 0).await else {
        return;
    };
    let client = Client::new(proxy.url()).unwrap();
    let mut stream = client.follow(
        &job,
        StreamOptions {
            reconnect: fast(),
            ..Default::default()
        },
    );
    let events = watch(&mut stream, &proxy, 97).await;
    let last = worker.finished().await;
    assert_eq!(
        last["lastSeq"], 1002,
        "job_started, 1,000 items, job_complete"
    );
    assert_once_each(&events, 1002);
    assert!(stream.reconnects >= 5, "{} reconnects", stream.reconnects);
    let metrics = srv.metrics().await;
    assert!(
        metrics.contains("bookstrack_published_events_total{outcome=\"duplicate\"} 100"),
        "every tenth request was recognised:\n{metrics}"
    );
    assert!(metrics.contains("bookstrack_resumes_total{outcome=\"replayed\"}"));
    srv.cancel.cancel();
}

/// The SDK's publisher over a proxy that drops its connections and then
/// refuses new ones for a while: its retries carry the same keys, so the
/// viewer still sees each event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_publisher_retries_without_duplicates() {
    let srv = TestServer::start(|c| c.publish.rate_per_job = 100_000.0).await;
    let proxy = Proxy::start(srv.addr).await;
    let publishing = Client::new(proxy.url()).unwrap();
    let mut p = publishing
        .create_job(Pipeline::CsvImport, Some(1000))
        .await
        .unwrap()
        .with_policy(PublishPolicy { retry: fast() });
    let viewer = Client::new(srv.url.clone()).unwrap();
    let mut stream = viewer.follow(
        &viewer_of(&p.job.job_id, &p.job.token),
        StreamOptions {
            reconnect: fast(),
            ..Default::default()
        },
    );
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        while let Some(ev) = stream.next().await {
            out.push(ev.unwrap());
        }
        out
    });
    for n in 1..=1000u64 {
        if n % 100 == 0 {
            proxy.cut();
            proxy.refuse(true);
            let proxy_ref = &proxy;
            let (seq, ()) = tokio::join!(p.progress(n, None, format!("Row {n}"), None), async {
                tokio::time::sleep(Duration::from_millis(150)).await;
                proxy_ref.refuse(false);
            });
            assert_eq!(seq.unwrap(), n + 1);
        } else {
            assert_eq!(
                p.progress(n, None, format!("Row {n}"), None).await.unwrap(),
                n + 1
            );
        }
    }
    // A rotated key: the publisher carries on with the new one.
    let old_key = p.job.publisher_key.clone();
    p.refresh_key().await.unwrap();
    assert_ne!(p.job.publisher_key, old_key);
    let mut result = serde_json::Map::new();
    result.insert("books".into(), serde_json::json!([]));
    assert_eq!(p.complete(result, None, None).await.unwrap(), 1002);
    // The key of an event already logged gets its seq back.
    assert_eq!(p.next_key(), 1001);
    let events = reader.await.unwrap();
    assert_once_each(&events, 1002);
    // A refused event is an error with its code.
    let err = p.progress(1, None, "late", None).await.unwrap_err();
    assert!(err.to_string().contains("JOB_ENDED"), "{err}");
    srv.cancel.cancel();
}
