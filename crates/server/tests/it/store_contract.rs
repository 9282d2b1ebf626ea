//! One behavioural suite for every storage backend. A new backend (Redis)
//! adds one line to `backends()`.

use bookstrack_protocol::{JobState, JobStatus, Pipeline, RowError};
use bookstrack_server::store::{
    CatalogEntry, Checkpoint, Item, NewJob, SqliteStore, Store, StoreError, StoredEvent, TRIM_EVERY,
};
use bookstrack_server::token;
use serde_json::json;
use std::sync::Arc;

fn backends(dir: &tempfile::TempDir) -> Vec<(&'static str, Arc<dyn Store>)> {
    vec![(
        "sqlite",
        Arc::new(SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap()),
    )]
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
        },
        hash,
    )
}

fn progress_json(seq: u64) -> String {
    format!(
        r#"{{"type":"job_progress","jobId":"a","pipeline":"csv_import","timestamp":1,"version":"1.0.0","seq":{seq},"payload":{{"type":"job_progress","progress":0.1,"status":"s","booksProcessed":{seq}}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_honours_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in backends(&dir) {
        contract(name, store.as_ref()).await;
    }
}

async fn contract(name: &str, s: &dyn Store) {
    let (job, hash) = new_job("a");
    s.create_job(job.clone()).await.unwrap();
    assert!(
        matches!(s.create_job(job).await, Err(StoreError::Duplicate(_))),
        "{name}: a job id is used once"
    );
    assert_eq!(
        s.job_state("a").await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    assert!(s.job_state("zz").await.unwrap().is_none());

    // Tokens: swap only from the current one; the replaced one is remembered.
    let t = s.token("a").await.unwrap().unwrap();
    assert_eq!((t.hash, t.expires_at, t.previous), (hash, 9_000, None));
    let (_, new) = token::generate();
    assert!(s.replace_token("a", &hash, &new, 20_000).await.unwrap());
    assert!(
        !s.replace_token("a", &hash, &new, 20_000).await.unwrap(),
        "{name}: second swap loses"
    );
    let t = s.token("a").await.unwrap().unwrap();
    assert_eq!((t.hash, t.previous), (new, Some(hash)));

    // Events: ordered, trimmed in steps to the retention.
    let last = 2 * TRIM_EVERY + 2;
    for seq in 1..=last {
        s.append_event("trim", seq, &progress_json(seq), 10)
            .await
            .unwrap();
    }
    let seqs: Vec<u64> = s
        .events_after("trim", 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (seqs[0]..=last).collect::<Vec<_>>(), "{name}");
    assert!(
        (10..10 + TRIM_EVERY).contains(&(seqs.len() as u64)),
        "{name}: kept {} events",
        seqs.len()
    );
    for seq in 1..=12 {
        s.append_event("a", seq, &progress_json(seq), 10)
            .await
            .unwrap();
    }
    assert_eq!(s.events_after("a", 10, 1).await.unwrap()[0].seq, 11);

    // Checkpoints: state, output and cursor together.
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
    let u = s.unfinished().await.unwrap();
    assert_eq!(u.len(), 1);
    assert_eq!((u[0].cursor, u[0].last_event_seq), (7, 12));
    assert_eq!(
        u[0].updates_since_checkpoint, 2,
        "{name}: progress logged after the checkpoint"
    );
    assert_eq!(u[0].input_path.as_deref(), Some("/tmp/a"));
    assert!(u[0].last_event.as_deref().unwrap().contains("\"seq\":12"));

    // The terminal checkpoint logs its event and clears the input.
    st.status = JobStatus::Complete;
    st.end_time = Some(5_000);
    st.last_seq = 13;
    s.checkpoint(
        "a",
        Checkpoint {
            state: Some(st),
            cursor: 9,
            items: vec![Item::new(r#"{"title":"z"}"#.into())],
            events: vec![StoredEvent {
                seq: 13,
                json: progress_json(13),
            }],
            retain: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
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

    // Output records are found again by work id, from any job.
    let works = s.works(vec!["wx".into(), "nope".into()]).await.unwrap();
    assert_eq!(works.len(), 1);
    assert_eq!(works["wx"], r#"{"title":"x"}"#);

    // The lookup cache and the local catalog.
    s.cache_put(vec![("isbn:1".into(), "{}".into())])
        .await
        .unwrap();
    let c = s
        .cache_get(vec!["isbn:1".into(), "isbn:2".into()])
        .await
        .unwrap();
    assert_eq!(c.keys().collect::<Vec<_>>(), vec!["isbn:1"]);
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

    // Cleanup queries and deletion.
    assert_eq!(s.earliest_end().await.unwrap(), Some(5_000));
    assert!(s.ended_before(4_999).await.unwrap().is_empty());
    assert_eq!(s.ended_before(5_000).await.unwrap(), vec!["a".to_string()]);
    s.delete_job("a").await.unwrap();
    assert!(s.job_state("a").await.unwrap().is_none());
    assert!(s.token("a").await.unwrap().is_none());
    assert!(s.output("a").await.unwrap().is_none());
    assert!(s.events_after("a", 0, 100).await.unwrap().is_empty());
    assert_eq!(s.earliest_end().await.unwrap(), None);
    assert!(
        s.works(vec!["wx".into()]).await.unwrap().is_empty(),
        "{name}: gone with its job"
    );
}
