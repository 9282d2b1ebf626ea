//! A `/ws/progress` socket closed with 4001 when its token expires
//! (docs/PROTOCOL.md §14): the SDK reconnects at once, from its last seq,
//! with a token still good. The backoff is set to a minute, so a stream
//! that treated the close as a drop would not finish within the test.

use bookstrack_client::{
    Client, JobStream, MemoryTokenStore, ReconnectPolicy, StoredToken, StreamOptions, TokenStore,
};
use bookstrack_protocol::{Envelope, JobStarted, Payload};
use bookstrack_server::pipelines::synthetic::Synthetic;
use bookstrack_server::pipelines::JobSpec;
use bookstrack_server::App;
use bookstrack_testkit::TestServer;
use std::sync::Arc;
use std::time::Duration;

/// A minute before any reconnect that is not the answer to a 4001.
fn slow() -> ReconnectPolicy {
    ReconnectPolicy {
        base: Duration::from_secs(60),
        cap: Duration::from_secs(60),
        max_attempts: 1,
        jitter: 0.0,
    }
}

async fn server_with_job(ttl_secs: u64, steps: u64) -> (TestServer, JobStarted) {
    let srv = TestServer::start(|c| {
        c.token_ttl = Duration::from_secs(ttl_secs);
        c.token_refresh_window = Duration::from_secs(ttl_secs);
    })
    .await;
    let s = Synthetic {
        steps,
        interval: Duration::from_millis(20),
        fail_after: None,
        stamp: false,
        phase: None,
    };
    let started = srv
        .app
        .start_job(App::new_job_id(), JobSpec::Synthetic(s), None)
        .await
        .unwrap()
        .into_data("started".into(), None);
    (srv, started)
}

/// Every event to the end, within 30 s; asserts seqs 1.. with no gap or
/// repeat and a `job_complete` last.
async fn drain(stream: &mut JobStream) -> Vec<u64> {
    let events: Vec<Envelope> = tokio::time::timeout(Duration::from_secs(30), async {
        let mut out = Vec::new();
        while let Some(ev) = stream.next().await {
            out.push(ev.expect("no error"));
        }
        out
    })
    .await
    .expect("done without waiting out a backoff");
    assert!(matches!(
        events.last().unwrap().payload(),
        Payload::JobComplete { .. }
    ));
    let seqs: Vec<u64> = events.iter().filter_map(Envelope::seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4001_close_is_answered_at_once_with_the_token_refreshed_in_its_window() {
    // Tokens live 2 s; the job runs ~6 s: several sockets are closed 4001.
    let (srv, job) = server_with_job(2, 300).await;
    let client = Client::new(format!("http://{}", srv.addr)).unwrap();
    let opts = StreamOptions {
        reconnect: slow(),
        ..Default::default()
    };
    let mut stream = client.follow(&job, opts);
    let seqs = drain(&mut stream).await;
    assert_eq!(seqs.len(), 302);
    assert!(stream.refreshes >= 2, "{} refreshes", stream.refreshes);
    assert!(stream.reconnects >= 2, "{} reconnects", stream.reconnects);
    srv.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_4001_the_token_another_holder_refreshed_is_taken() {
    let (srv, job) = server_with_job(3, 250).await;
    let client = Client::new(format!("http://{}", srv.addr)).unwrap();
    let tokens: Arc<MemoryTokenStore> = Arc::default();
    // This stream knows no expiry, so it never refreshes on its own.
    let bare = JobStarted {
        expires_at: None,
        refreshable_from: None,
        ..job.clone()
    };
    let opts = StreamOptions {
        reconnect: slow(),
        tokens: tokens.clone(),
        ..Default::default()
    };
    let mut stream = client.follow(&bare, opts);
    // Another process of the same user refreshes after a second and
    // stores the new token where the stream will look.
    let other = client.clone();
    let (id, old) = (job.job_id.clone(), job.token.clone());
    let shared = tokens.clone();
    let mine = StoredToken::from(&job);
    let holder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let r = other.refresh_token(&id, &old).await.unwrap();
        let renewed = mine.renewed(r.token, r.expires_at.parse().ok());
        shared.put(&id, &renewed).unwrap();
    });
    let seqs = drain(&mut stream).await;
    assert_eq!(seqs.len(), 252);
    holder.await.unwrap();
    // Its own token was dead at the 4001 (refreshed by the other holder,
    // then expired): only the one taken from the store got it back in.
    assert_ne!(stream.token(), job.token);
    assert!(stream.reconnects >= 1);
    srv.cancel.cancel();
}
