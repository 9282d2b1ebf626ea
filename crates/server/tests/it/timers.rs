//! Timers under tokio's paused clock: the ready wait and the 24 h cleanup.

use bookstrack_protocol::JobStatus;
use bookstrack_server::job::OwnerMsg;
use bookstrack_server::pipelines::synthetic::Synthetic;
use bookstrack_server::pipelines::JobSpec;
use bookstrack_server::store::SqliteStore;
use bookstrack_server::{App, Config};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn app(dir: &tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Arc<App> {
    let mut c = Config::new(dir.path());
    tweak(&mut c);
    // The store's threads are invisible to tokio: waits for them go through
    // the blocking pool here, so the paused clock stands still meanwhile.
    let store = SqliteStore::open_with(&c.database_path(), true).unwrap();
    let store = Arc::new(store);
    App::with_stores(c, store.clone(), store, CancellationToken::new()).unwrap()
}

async fn start(app: &Arc<App>, steps: u64) -> String {
    let s = Synthetic {
        steps,
        interval: Duration::ZERO,
        fail_after: None,
        stamp: false,
        phase: None,
    };
    app.start_job(App::new_job_id(), JobSpec::Synthetic(s), None)
        .await
        .unwrap()
        .job_id
}

async fn status(app: &App, id: &str) -> Option<JobStatus> {
    app.jobs
        .store
        .job_state(id)
        .await
        .unwrap()
        .map(|s| s.status)
}

async fn until_status(app: &App, id: &str, want: JobStatus) {
    for _ in 0..10_000 {
        if status(app, id).await == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("job never reached {want:?}");
}

#[tokio::test(start_paused = true)]
async fn a_job_waits_for_ready_at_most_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, |_| {});
    let id = start(&app, 3).await;
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(status(&app, &id).await, Some(JobStatus::Queued));
    let t0 = tokio::time::Instant::now();
    until_status(&app, &id, JobStatus::Complete).await;
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn ready_starts_the_job_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, |_| {});
    let id = start(&app, 3).await;
    let t0 = tokio::time::Instant::now();
    app.jobs
        .registry
        .get(&id)
        .unwrap()
        .tx
        .send(OwnerMsg::Ready)
        .await
        .ok()
        .unwrap();
    until_status(&app, &id, JobStatus::Complete).await;
    assert!(t0.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn finished_jobs_are_deleted_24h_after_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, |c| c.ready_timeout = Duration::ZERO);
    app.spawn_cleanup();
    let id = start(&app, 3).await;
    until_status(&app, &id, JobStatus::Complete).await;
    // A job that ends 12 h later is kept 12 h longer.
    tokio::time::sleep(Duration::from_secs(12 * 3600)).await;
    let later = app
        .start_job(
            App::new_job_id(),
            JobSpec::Synthetic(Synthetic {
                steps: 1,
                interval: Duration::ZERO,
                fail_after: None,
                stamp: false,
                phase: None,
            }),
            None,
        )
        .await
        .unwrap()
        .job_id;
    until_status(&app, &later, JobStatus::Complete).await;
    tokio::time::sleep(Duration::from_secs(11 * 3600)).await;
    assert!(status(&app, &id).await.is_some(), "kept for 24 h");
    tokio::time::sleep(Duration::from_secs(3600 + 5)).await;
    for _ in 0..1000 {
        if status(&app, &id).await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(status(&app, &id).await, None, "deleted after 24 h");
    assert!(app
        .jobs
        .store
        .events_after(&id, 0, 100)
        .await
        .unwrap()
        .is_empty());
    assert!(app.jobs.store.token(&id).await.unwrap().is_none());
    assert_eq!(app.jobs.metrics.jobs_cleaned.get(), 1);
    assert!(
        status(&app, &later).await.is_some(),
        "the later job is kept"
    );
}
