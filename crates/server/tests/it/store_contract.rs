//! One behavioural suite for every job-store backend, each property its own
//! test so that one failure hides no other: SQLite, and Redis on a real
//! `redis-server` started per test (`bookstrack_testkit::RedisProc`). What
//! only the Redis backend promises (fencing, seq order, its settings) is in
//! `store_redis.rs`. The lookups, which stay on SQLite whatever backend the
//! jobs use, are tested after the suite.

use bookstrack_protocol::{JobState, JobStatus, Pipeline, RowError};
use bookstrack_server::store::{
    CatalogEntry, Checkpoint, EventKind, Item, JobStore, LookupStore, NewJob, SqliteStore,
    StoreError, StoredEvent, TokenRecord, TRIM_EVERY,
};
use bookstrack_server::token;
use serde_json::json;
use std::sync::Arc;

/// Runs each named property against a fresh store from `$open`.
macro_rules! contract {
    ($backend:ident, $open:ident) => {
        mod $backend {
            contract!(@each $open;
                a_job_id_is_used_once,
                a_token_swaps_only_from_the_current_one,
                events_are_ordered_and_trimmed_to_the_retention,
                events_after_stops_at_its_limit,
                events_keep_the_kind_they_were_logged_with,
                a_checkpoint_keeps_state_output_and_cursor_together,
                the_terminal_checkpoint_logs_its_event_and_clears_the_input,
                ended_jobs_are_found_then_deleted_with_all_they_hold,
                a_publisher_key_is_kept_apart_from_the_viewers_token,
                publish_keys_live_as_long_as_their_events
            );
        }
    };
    (@each $open:ident; $($property:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $property() {
                let Some((_held, store)) = super::$open().await else { return };
                super::$property(store.as_ref()).await;
            }
        )*
    };
}

contract!(sqlite, open_sqlite);
#[cfg(feature = "redis")]
contract!(redis, open_redis);

async fn open_sqlite() -> Option<(tempfile::TempDir, Arc<dyn JobStore>)> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
    Some((dir, Arc::new(store)))
}

fn lookup_store() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
    (dir, Arc::new(store))
}

/// A fresh `redis-server` per test (stopped when the test ends); `None`
/// outside CI when it is not installed.
#[cfg(feature = "redis")]
pub(crate) async fn open_redis() -> Option<(bookstrack_testkit::RedisProc, Arc<dyn JobStore>)> {
    let redis = bookstrack_testkit::RedisProc::start()?;
    let store = bookstrack_server::store::RedisStore::open(&redis.url(), "n1")
        .await
        .unwrap();
    Some((redis, Arc::new(store)))
}

fn new_job(id: &str) -> (NewJob, token::TokenHash) {
    let (_, hash) = token::generate();
    (
        NewJob {
            state: JobState::new(id, Pipeline::CsvImport, 1_000),
            token_hash: hash,
            token_expires_at: 9_000,
            input_path: Some(format!("/tmp/{id}")),
            params: json!({"runner": "x"}),
            publisher: None,
        },
        hash,
    )
}

fn progress_json(seq: u64) -> String {
    format!(
        r#"{{"type":"job_progress","jobId":"a","pipeline":"csv_import","timestamp":1,"version":"1.0.0","seq":{seq},"payload":{{"type":"job_progress","progress":0.1,"status":"s","booksProcessed":{seq}}}}}"#
    )
}

fn progress(seq: u64) -> StoredEvent {
    StoredEvent {
        seq,
        kind: EventKind::Progress,
        json: progress_json(seq),
    }
}

async fn a_job_id_is_used_once(s: &dyn JobStore) {
    let (job, _) = new_job("a");
    s.create_job(job.clone()).await.unwrap();
    assert!(
        matches!(s.create_job(job).await, Err(StoreError::Duplicate(_))),
        "a job id is used once"
    );
    assert_eq!(
        s.job_state("a").await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    assert!(s.job_state("zz").await.unwrap().is_none());
}

async fn a_token_swaps_only_from_the_current_one(s: &dyn JobStore) {
    let (job, hash) = new_job("a");
    s.create_job(job).await.unwrap();
    // The replaced token is remembered.
    let t = s.token("a").await.unwrap().unwrap();
    assert_eq!((t.hash, t.expires_at, t.previous), (hash, 9_000, None));
    let (_, new) = token::generate();
    assert!(s.replace_token("a", &hash, &new, 20_000).await.unwrap());
    assert!(
        !s.replace_token("a", &hash, &new, 20_000).await.unwrap(),
        "second swap loses"
    );
    let t = s.token("a").await.unwrap().unwrap();
    assert_eq!((t.hash, t.previous), (new, Some(hash)));
}

async fn events_are_ordered_and_trimmed_to_the_retention(s: &dyn JobStore) {
    s.create_job(new_job("trim").0).await.unwrap();
    let last = 2 * TRIM_EVERY + 2;
    for seq in 1..=last {
        s.append_event("trim", progress(seq), 10).await.unwrap();
    }
    let seqs: Vec<u64> = s
        .events_after("trim", 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (seqs[0]..=last).collect::<Vec<_>>());
    assert!(
        (10..10 + TRIM_EVERY).contains(&(seqs.len() as u64)),
        "kept {} events",
        seqs.len()
    );
}

async fn events_after_stops_at_its_limit(s: &dyn JobStore) {
    s.create_job(new_job("a").0).await.unwrap();
    for seq in 1..=12 {
        s.append_event("a", progress(seq), 10).await.unwrap();
    }
    assert_eq!(s.events_after("a", 10, 1).await.unwrap()[0].seq, 11);
}

async fn events_keep_the_kind_they_were_logged_with(s: &dyn JobStore) {
    let (job, _) = new_job("a");
    s.create_job(job).await.unwrap();
    let other = StoredEvent {
        seq: 1,
        kind: EventKind::Other,
        json: r#"{"type":"job_started"}"#.into(),
    };
    s.append_event("a", other.clone(), 100).await.unwrap();
    let terminal = StoredEvent {
        seq: 4,
        kind: EventKind::Terminal,
        json: r#"{"type":"job_complete"}"#.into(),
    };
    let cp = Checkpoint {
        events: vec![progress(2), progress(3), terminal.clone()],
        retain: 100,
        ..Default::default()
    };
    s.checkpoint("a", cp).await.unwrap();
    let back = s.events_after("a", 0, 10).await.unwrap();
    assert_eq!(back, vec![other, progress(2), progress(3), terminal]);
}

/// Job "a" with events 1..=12 logged and a checkpoint at seq 10, cursor 7.
async fn checkpointed_job(s: &dyn JobStore) -> JobState {
    let (job, _) = new_job("a");
    s.create_job(job).await.unwrap();
    for seq in 1..=12 {
        s.append_event("a", progress(seq), 10).await.unwrap();
    }
    let mut st = s.job_state("a").await.unwrap().unwrap();
    st.status = JobStatus::Running;
    st.last_seq = 10;
    s.checkpoint(
        "a",
        Checkpoint {
            state: Some(st.clone()),
            cursor: 7,
            items: vec![
                Item {
                    work_id: Some("wx".into()),
                    json: r#"{"title":"x"}"#.into(),
                },
                Item::new(r#"{"title":"y"}"#.into()),
            ],
            errors: vec![RowError {
                row: 3,
                message: "bad".into(),
            }],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    st
}

/// Ends job "a" of [`checkpointed_job`] at seq 13, end time 5,000.
async fn end_job(s: &dyn JobStore, mut st: JobState) {
    st.status = JobStatus::Complete;
    st.end_time = Some(5_000);
    st.last_seq = 13;
    s.checkpoint(
        "a",
        Checkpoint {
            state: Some(st),
            cursor: 9,
            items: vec![Item::new(r#"{"title":"z"}"#.into())],
            events: vec![progress(13)],
            retain: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

async fn a_checkpoint_keeps_state_output_and_cursor_together(s: &dyn JobStore) {
    checkpointed_job(s).await;
    let u = s.unfinished().await.unwrap();
    assert_eq!(u.len(), 1);
    assert_eq!((u[0].cursor, u[0].last_event_seq), (7, 12));
    assert_eq!(
        u[0].updates_since_checkpoint, 2,
        "progress logged after the checkpoint"
    );
    assert_eq!(u[0].input_path.as_deref(), Some("/tmp/a"));
    assert!(u[0].last_event.as_deref().unwrap().contains("\"seq\":12"));
}

async fn the_terminal_checkpoint_logs_its_event_and_clears_the_input(s: &dyn JobStore) {
    let st = checkpointed_job(s).await;
    end_job(s, st).await;
    assert!(s.unfinished().await.unwrap().is_empty());
    assert_eq!(s.input_path("a").await.unwrap(), None);
    let out = s.output("a").await.unwrap().unwrap();
    let titles: Vec<_> = out
        .items
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["x", "y", "z"]);
    assert_eq!(
        out.errors,
        vec![RowError {
            row: 3,
            message: "bad".into()
        }]
    );
    assert_eq!(s.events_after("a", 12, 10).await.unwrap()[0].seq, 13);
}

async fn ended_jobs_are_found_then_deleted_with_all_they_hold(s: &dyn JobStore) {
    let st = checkpointed_job(s).await;
    end_job(s, st).await;
    assert_eq!(s.earliest_end().await.unwrap(), Some(5_000));
    assert!(s.ended_before(4_999).await.unwrap().is_empty());
    assert_eq!(s.ended_before(5_000).await.unwrap(), vec!["a".to_string()]);
    s.delete_job("a").await.unwrap();
    assert!(s.job_state("a").await.unwrap().is_none());
    assert!(s.token("a").await.unwrap().is_none());
    assert!(s.output("a").await.unwrap().is_none());
    assert!(s.events_after("a", 0, 100).await.unwrap().is_empty());
    assert_eq!(s.earliest_end().await.unwrap(), None);
}

async fn a_publisher_key_is_kept_apart_from_the_viewers_token(s: &dyn JobStore) {
    let (mut job, viewer) = new_job("a");
    let (_, publisher) = token::generate();
    job.publisher = Some(TokenRecord {
        hash: publisher,
        expires_at: 50_000,
        previous: None,
    });
    s.create_job(job).await.unwrap();
    let (plain, _) = new_job("b");
    s.create_job(plain).await.unwrap();
    assert!(
        s.publisher_token("b").await.unwrap().is_none(),
        "a built-in job has none"
    );
    let p = s.publisher_token("a").await.unwrap().unwrap();
    assert_eq!((p.hash, p.expires_at), (publisher, 50_000));
    assert_eq!(s.token("a").await.unwrap().unwrap().hash, viewer);
    let (_, new) = token::generate();
    assert!(
        !s.replace_publisher_token("a", &viewer, &new, 60_000)
            .await
            .unwrap(),
        "the viewers' token does not replace the publisher's"
    );
    assert!(s
        .replace_publisher_token("a", &publisher, &new, 60_000)
        .await
        .unwrap());
    let p = s.publisher_token("a").await.unwrap().unwrap();
    assert_eq!((p.hash, p.previous), (new, Some(publisher)));
    assert_eq!(
        s.token("a").await.unwrap().unwrap().hash,
        viewer,
        "untouched"
    );
    s.delete_job("a").await.unwrap();
    assert!(s.publisher_token("a").await.unwrap().is_none());
}

async fn publish_keys_live_as_long_as_their_events(s: &dyn JobStore) {
    let (job, _) = new_job("a");
    s.create_job(job).await.unwrap();
    for batch in 0..3u64 {
        let seqs = (batch * TRIM_EVERY + 1)..=((batch + 1) * TRIM_EVERY);
        s.checkpoint(
            "a",
            Checkpoint {
                events: seqs.clone().map(progress).collect(),
                keys: seqs
                    .filter(|q| q % 2 == 0)
                    .map(|q| (q, format!("k{q}")))
                    .collect(),
                retain: TRIM_EVERY,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let keys = s.publish_keys("a").await.unwrap();
    let kept: Vec<u64> = s
        .events_after("a", 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert!(!keys.is_empty());
    for (k, seq) in &keys {
        assert_eq!(k, &format!("k{seq}"));
        assert!(kept.contains(seq), "the key of a retained event");
    }
    assert!(
        keys.iter().all(|(_, q)| q % 2 == 0),
        "events without a key have none"
    );
    assert_eq!(keys.len(), kept.len() / 2, "every retained key");
    assert!(
        !keys.iter().any(|(_, q)| *q <= TRIM_EVERY),
        "trimmed with the first run"
    );
}

// The lookups: SQLite only.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_records_are_found_by_work_id_until_their_job_is_deleted() {
    let (_dir, s) = lookup_store();
    let st = checkpointed_job(s.as_ref()).await;
    end_job(s.as_ref(), st).await;
    let a = || vec!["a".to_string()];
    let works = s
        .works(a(), vec!["wx".into(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(works.len(), 1);
    assert_eq!(works["wx"], r#"{"title":"x"}"#);
    assert!(
        s.works(vec!["b".into()], vec!["wx".into()])
            .await
            .unwrap()
            .is_empty(),
        "only the jobs named are looked in"
    );
    let known = s.known_books(a(), 10).await.unwrap();
    assert_eq!(
        known,
        [r#"{"title":"x"}"#],
        "what a scan of job a's owner matches"
    );
    assert!(s.known_books(vec![], 10).await.unwrap().is_empty());
    s.delete_job("a").await.unwrap();
    assert!(
        s.works(a(), vec!["wx".into()]).await.unwrap().is_empty(),
        "gone with its job"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_answers_only_what_was_put() {
    let (_dir, s) = lookup_store();
    s.cache_put(vec![("isbn:1".into(), "{}".into())])
        .await
        .unwrap();
    let c = s
        .cache_get(vec!["isbn:1".into(), "isbn:2".into()])
        .await
        .unwrap();
    assert_eq!(c.keys().collect::<Vec<_>>(), vec!["isbn:1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_is_found_by_isbn_and_by_title() {
    let (_dir, s) = lookup_store();
    let n = s
        .catalog_put(vec![CatalogEntry {
            isbn13: "9780000000002".into(),
            title_key: "dune|frankherbert".into(),
            json: r#"{"title":"Dune"}"#.into(),
        }])
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        s.catalog_by_isbn(vec!["9780000000002".into()])
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.catalog_by_title("dune|frankherbert".into())
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"title":"Dune"}"#)
    );
    assert_eq!(s.catalog_by_title("x|y".into()).await.unwrap(), None);
}
