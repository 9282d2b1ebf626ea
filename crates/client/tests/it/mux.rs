//! The SDK's many-jobs stream, `MuxStream`, and the controls of both
//! streams, against a real server behind the cutting proxy: 100 jobs on one
//! socket cut several times, pause and resume mid-job, reconnect-now
//! skipping a long backoff, acked terminal events, and MessagePack and
//! deflate reading exactly the JSON events.

use bookstrack_client::{
    Client, Encoding, MuxEvent, MuxStream, ReconnectPolicy, StoredToken, StreamOptions,
};
use bookstrack_protocol::Envelope;
use bookstrack_server::pipelines::synthetic::Synthetic;
use bookstrack_server::pipelines::JobSpec;
use bookstrack_server::App;
use bookstrack_testkit::{Proxy, TestServer};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn synthetic(app: &Arc<App>, steps: u64, interval_ms: u64) -> (String, StoredToken) {
    let s = Synthetic {
        steps,
        interval: Duration::from_millis(interval_ms),
        fail_after: None,
        stamp: false,
        phase: None,
    };
    let started = app
        .start_job(App::new_job_id(), JobSpec::Synthetic(s), None)
        .await
        .unwrap()
        .into_data("started".into(), None);
    (started.job_id.clone(), StoredToken::from(&started))
}

fn options(policy: ReconnectPolicy) -> StreamOptions {
    StreamOptions {
        reconnect: policy,
        ..StreamOptions::default()
    }
}

fn fast() -> ReconnectPolicy {
    ReconnectPolicy {
        base: Duration::from_millis(50),
        cap: Duration::from_millis(400),
        max_attempts: 8,
        jitter: 0.2,
    }
}

/// Every event of every job until all have ended; asserts each job's seqs
/// run 1.. with no gap or repeat and end with its terminal event.
async fn drain(mux: &mut MuxStream, mut each: impl FnMut(&Envelope)) -> HashMap<String, Vec<u64>> {
    let mut seqs: HashMap<String, Vec<u64>> = HashMap::new();
    while let Some(ev) = mux.next().await {
        match ev.expect("no error") {
            MuxEvent::Event(e) => {
                each(&e);
                if let Some(s) = e.seq() {
                    seqs.entry(e.job_id().to_string()).or_default().push(s);
                }
            }
            MuxEvent::Refused { job_id, error } => panic!("{job_id} refused: {error:?}"),
        }
    }
    for (job, s) in &seqs {
        assert_eq!(
            s,
            &(1..=s.len() as u64).collect::<Vec<_>>(),
            "{job}: no gap, no repeat"
        );
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_socket_follows_100_jobs_cut_several_times() {
    let srv = TestServer::start(|c| c.max_running_jobs = 200).await;
    let proxy = Arc::new(Proxy::start(srv.addr).await);
    let client = Client::new(proxy.url()).unwrap();
    let mut mux = client.follow_many(options(fast()));
    let mut ids = Vec::new();
    for _ in 0..100 {
        let (id, token) = synthetic(&srv.app, 40, 40).await;
        mux.add(&id, token);
        ids.push(id);
    }
    let cutter = {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(350)).await;
                proxy.cut();
            }
        })
    };
    let seqs = drain(&mut mux, |_| {}).await;
    cutter.await.unwrap();
    assert_eq!(seqs.len(), 100, "every job's events arrived");
    for id in &ids {
        assert_eq!(seqs[id].len(), 42, "{id}: started, 40 progress, complete");
    }
    assert!(mux.reconnects >= 3, "cut and resumed: {}", mux.reconnects);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_and_resumed_mid_job_with_nothing_lost() {
    let srv = TestServer::start(|_| {}).await;
    let proxy = Proxy::start(srv.addr).await;
    let client = Client::new(proxy.url()).unwrap();
    let mut mux = client.follow_many(options(fast()));
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (id, token) = synthetic(&srv.app, 30, 30).await;
        mux.add(&id, token);
        ids.push(id);
    }
    let control = mux.control();
    let mut paused_at = None;
    let mut seen = 0;
    let seqs = drain(&mut mux, |_| {
        seen += 1;
        if seen == 40 {
            control.pause();
            paused_at = Some(Instant::now());
            let c = control.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(400)).await;
                c.resume();
            });
        }
    })
    .await;
    let paused_at = paused_at.expect("paused mid-job");
    assert!(paused_at.elapsed() >= Duration::from_millis(400));
    assert!(
        mux.reconnects >= 1,
        "the pause closed the socket, the resume opened one"
    );
    for id in &ids {
        assert_eq!(seqs[id].len(), 32, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_now_skips_a_long_backoff() {
    let srv = TestServer::start(|_| {}).await;
    let proxy = Arc::new(Proxy::start(srv.addr).await);
    let client = Client::new(proxy.url()).unwrap();
    let slow = ReconnectPolicy {
        base: Duration::from_secs(30),
        cap: Duration::from_secs(30),
        max_attempts: 3,
        jitter: 0.0,
    };
    let (id, token) = synthetic(&srv.app, 20, 50).await;
    let mut mux = client.follow_many(options(slow));
    mux.add(&id, token);
    let control = mux.control();
    let p = proxy.clone();
    let started = Instant::now();
    let mut cut = false;
    let seqs = drain(&mut mux, |e| {
        if e.seq() == Some(5) && !cut {
            cut = true;
            p.cut();
            let c = control.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                c.reconnect_now();
            });
        }
    })
    .await;
    assert!(cut);
    assert_eq!(seqs[&id].len(), 22);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a 30 s backoff was skipped: {:?}",
        started.elapsed()
    );
}

/// The events of one job read with `opts`, by the single-job stream.
async fn read_job(
    client: &Client,
    id: &str,
    token: &StoredToken,
    opts: StreamOptions,
) -> Vec<Envelope> {
    let mut s = client.events(id, &token.token, opts);
    let mut out = Vec::new();
    while let Some(e) = s.next().await {
        out.push(e.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msgpack_and_deflate_read_the_json_events_and_terminals_are_acked() {
    let srv = TestServer::start(|_| {}).await;
    let client = Client::new(srv.url.clone()).unwrap();
    let (id, token) = synthetic(&srv.app, 15, 2).await;
    let json = read_job(&client, &id, &token, StreamOptions::default()).await;
    assert_eq!(json.len(), 17);
    for (encoding, compress) in [
        (Encoding::MsgPack, false),
        (Encoding::Json, true),
        (Encoding::MsgPack, true),
    ] {
        let opts = StreamOptions {
            encoding,
            compress,
            ..StreamOptions::default()
        };
        let got = read_job(&client, &id, &token, opts.clone()).await;
        assert_eq!(got, json, "{encoding:?} compress={compress}");
        let mut mux = client.follow_many(opts);
        mux.add(&id, token.clone());
        let mut events = Vec::new();
        while let Some(e) = mux.next().await {
            if let MuxEvent::Event(e) = e.unwrap() {
                events.push(e);
            }
        }
        assert_eq!(events, json, "mux {encoding:?} compress={compress}");
    }
    // The streams acknowledged the terminal event. Acks are written within
    // about 50 ms; the wait is long so that a loaded machine cannot fail it.
    for _ in 0..500 {
        let state = client.job_state(&id, &token.token).await.unwrap();
        if state.acked_seq == Some(17) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = client.job_state(&id, &token.token).await.unwrap();
    panic!("the terminal event was never acknowledged: {state:?}");
}
