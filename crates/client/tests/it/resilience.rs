//! The SDK against a real server behind a flaky proxy: cuts mid-stream,
//! token expiry, resync retries, cancellation during backoff, token files.

use bookstrack_client::{
    Client, ClientError, FileTokenStore, JobStream, ReconnectPolicy, ResyncPolicy, StreamOptions,
    TokenStore,
};
use bookstrack_protocol::{Envelope, Payload};
use bookstrack_server::pipelines::synthetic::Synthetic;
use bookstrack_server::pipelines::JobSpec;
use bookstrack_server::App;
use bookstrack_testkit::Proxy;
use bookstrack_testkit::TestServer;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn synthetic(app: &Arc<App>, steps: u64, interval_ms: u64) -> bookstrack_server::Started {
    let s = Synthetic {
        steps,
        interval: Duration::from_millis(interval_ms),
        fail_after: None,
        stamp: false,
        phase: None,
    };
    app.start_job(App::new_job_id(), JobSpec::Synthetic(s), None)
        .await
        .unwrap()
}

fn fast() -> ReconnectPolicy {
    ReconnectPolicy {
        base: Duration::from_millis(50),
        cap: Duration::from_millis(400),
        max_attempts: 5,
        jitter: 0.2,
    }
}

fn started(s: &bookstrack_server::Started) -> bookstrack_protocol::JobStarted {
    s.clone().into_data("started".into(), None)
}

/// Every event until the end, asserting seq runs 1.. with no gap or repeat.
async fn drain(stream: &mut JobStream, mut on_event: impl FnMut(&Envelope)) -> Vec<Envelope> {
    let mut out: Vec<Envelope> = Vec::new();
    while let Some(ev) = stream.next().await {
        let ev = ev.expect("no error");
        on_event(&ev);
        out.push(ev);
    }
    let seqs: Vec<u64> = out.iter().filter_map(Envelope::seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_mid_stream_are_resumed_without_gap_or_duplicate() {
    let srv = TestServer::start(|_| {}).await;
    let proxy = Proxy::start(srv.addr).await;
    let job = synthetic(&srv.app, 150, 10).await;
    let client = Client::new(proxy.url()).unwrap();
    let mut stream = client.follow(
        &started(&job),
        StreamOptions {
            reconnect: fast(),
            ..Default::default()
        },
    );
    let mut seen = 0;
    let events = drain(&mut stream, |_| {
        seen += 1;
        if seen % 30 == 0 {
            proxy.cut();
        }
    })
    .await;
    assert!(
        stream.reconnects >= 3,
        "reconnected {} times",
        stream.reconnects
    );
    assert!(matches!(
        events.last().unwrap().payload(),
        Payload::JobComplete { .. }
    ));
    assert_eq!(events.last().unwrap().seq(), Some(152));
    srv.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expiring_during_the_job_is_refreshed_unnoticed() {
    let srv = TestServer::start(|c| {
        c.token_ttl = Duration::from_secs(3);
        c.token_refresh_window = Duration::from_secs(2);
    })
    .await;
    let proxy = Proxy::start(srv.addr).await;
    let job = synthetic(&srv.app, 500, 10).await;
    let first_token = job.token.clone();
    let client = Client::new(proxy.url()).unwrap();
    let mut stream = client.follow(
        &started(&job),
        StreamOptions {
            reconnect: fast(),
            ..Default::default()
        },
    );
    let t0 = Instant::now();
    let mut cut_late = false;
    let events = drain(&mut stream, |_| {
        // After the first token's expiry, force a reconnect: only a
        // refreshed token gets back in.
        if !cut_late && t0.elapsed() > Duration::from_millis(3500) {
            cut_late = true;
            proxy.cut();
        }
    })
    .await;
    assert!(cut_late, "the job outlived the first token");
    assert!(stream.refreshes >= 1);
    assert_ne!(stream.token(), first_token);
    assert!(stream.reconnects >= 1);
    assert!(matches!(
        events.last().unwrap().payload(),
        Payload::JobComplete { .. }
    ));
    srv.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_backoff_stops_at_once() {
    let srv = TestServer::start(|_| {}).await;
    let proxy = Proxy::start(srv.addr).await;
    let job = synthetic(&srv.app, 1000, 20).await;
    let client = Client::new(proxy.url()).unwrap();
    let slow = ReconnectPolicy {
        base: Duration::from_secs(5),
        cap: Duration::from_secs(30),
        max_attempts: 5,
        jitter: 0.0,
    };
    let mut stream = client.follow(
        &started(&job),
        StreamOptions {
            reconnect: slow,
            ..Default::default()
        },
    );
    assert!(stream.next().await.unwrap().is_ok());
    let cancel = stream.cancel_handle();
    proxy.refuse(true);
    proxy.cut();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let t = Instant::now();
    let mut last = None;
    while let Some(ev) = stream.next().await {
        last = Some(ev);
    }
    assert!(
        matches!(last, Some(Err(ClientError::Cancelled))),
        "{last:?}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "did not wait out the 5 s backoff: {:?}",
        t.elapsed()
    );
    srv.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_file_is_removed_when_the_job_ends() {
    let srv = TestServer::start(|_| {}).await;
    let job = synthetic(&srv.app, 5, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileTokenStore::new(dir.path()));
    let client = Client::new(format!("http://{}", srv.addr)).unwrap();
    let mut stream = client.follow(
        &started(&job),
        StreamOptions {
            tokens: store.clone(),
            ..Default::default()
        },
    );
    assert_eq!(
        store.get(&job.job_id).unwrap().token,
        job.token,
        "kept while the job runs"
    );
    drain(&mut stream, |_| {}).await;
    assert!(store.get(&job.job_id).is_none());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    srv.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_up_after_the_configured_attempts_and_a_failed_resync() {
    let srv = TestServer::start(|_| {}).await;
    let proxy = Proxy::start(srv.addr).await;
    let job = synthetic(&srv.app, 1000, 20).await;
    let client = Client::new(proxy.url()).unwrap();
    let opts = StreamOptions {
        reconnect: ReconnectPolicy {
            max_attempts: 3,
            ..fast()
        },
        resync: ResyncPolicy {
            tries: 2,
            waits: vec![Duration::from_millis(10)],
        },
        ..Default::default()
    };
    let mut stream = client.follow(&started(&job), opts);
    assert!(stream.next().await.unwrap().is_ok());
    // The network goes away for good: neither WebSocket nor HTTP gets through.
    proxy.refuse(true);
    proxy.cut();
    let mut last = None;
    while let Some(ev) = stream.next().await {
        last = Some(ev);
    }
    match last {
        Some(Err(ClientError::GaveUp { attempts: 3, last })) => {
            assert!(last.contains("resync failed"), "{last}");
        }
        other => panic!("expected to give up: {other:?}"),
    }
    srv.cancel.cancel();
}
