//! What only the Redis backend promises, on a real `redis-server`: a job
//! taken over by another node refuses its old owner's writes (the fence is
//! checked inside the write), events are logged in seq order only and a
//! repeated one is a no-op, an ended job's state is sticky, a Redis that
//! could drop jobs is refused at start, and a Redis killed and restarted
//! keeps every acknowledged write and is used again without a restart of
//! the node. The shared properties are in `store_contract.rs`.

use bookstrack_protocol::{JobState, JobStatus, Pipeline};
use bookstrack_server::store::{
    Checkpoint, EventKind, JobStore, NewJob, RedisStore, StoreError, StoredEvent,
};
use bookstrack_server::token;
use bookstrack_testkit::RedisProc;
use serde_json::json;
use std::time::{Duration, Instant};

fn job(id: &str) -> NewJob {
    NewJob {
        state: JobState::new(id, Pipeline::Synthetic, 1_000),
        token_hash: token::generate().1,
        token_expires_at: 9_000,
        input_path: None,
        params: json!({}),
        publisher: None,
    }
}

fn event(seq: u64) -> StoredEvent {
    StoredEvent {
        seq,
        kind: EventKind::Progress,
        json: format!(r#"{{"type":"job_progress","seq":{seq}}}"#),
    }
}

async fn seqs(s: &RedisStore, id: &str) -> Vec<u64> {
    let events = s.events_after(id, 0, 1_000).await.unwrap();
    events.iter().map(|e| e.seq).collect()
}

#[tokio::test]
async fn a_taken_over_job_refuses_its_old_owners_writes() {
    let Some(redis) = RedisProc::start() else {
        return;
    };
    let old = RedisStore::open(&redis.url(), "n1").await.unwrap();
    let new = RedisStore::open(&redis.url(), "n2").await.unwrap();
    old.create_job(job("j")).await.unwrap();
    for seq in 1..=3 {
        old.append_event("j", event(seq), 100).await.unwrap();
    }
    assert_eq!(
        new.take_over("j").await.unwrap(),
        Some(2),
        "the fence goes up"
    );
    assert_eq!(
        new.owner("j").await.unwrap().as_deref(),
        Some(new.incarnation())
    );
    // The old owner, paused past its lease, wakes up and writes.
    let late = old.append_event("j", event(4), 100).await;
    assert!(matches!(late, Err(StoreError::Fenced(_))), "{late:?}");
    let mut st = old.job_state("j").await.unwrap().unwrap();
    st.status = JobStatus::Failed;
    let cp = Checkpoint {
        state: Some(st),
        ..Default::default()
    };
    assert!(matches!(
        old.checkpoint("j", cp).await,
        Err(StoreError::Fenced(_))
    ));
    // The new owner continues the same sequence.
    new.append_event("j", event(4), 100).await.unwrap();
    assert_eq!(seqs(&new, "j").await, vec![1, 2, 3, 4]);
    assert_eq!(
        new.job_state("j").await.unwrap().unwrap().status,
        JobStatus::Queued,
        "the old owner's state was not written"
    );
}

#[tokio::test]
async fn events_are_logged_in_order_and_a_repeat_is_a_no_op() {
    let Some(redis) = RedisProc::start() else {
        return;
    };
    let s = RedisStore::open(&redis.url(), "n1").await.unwrap();
    s.create_job(job("j")).await.unwrap();
    s.append_event("j", event(1), 100).await.unwrap();
    s.append_event("j", event(2), 100).await.unwrap();
    // A retry after a lost reply: already logged, so nothing changes.
    s.append_event("j", event(2), 100).await.unwrap();
    let gap = s.append_event("j", event(5), 100).await;
    assert!(matches!(gap, Err(StoreError::Refused(_))), "{gap:?}");
    // A checkpoint whose events do not follow writes nothing of itself.
    let cp = Checkpoint {
        events: vec![event(3), event(6)],
        retain: 100,
        ..Default::default()
    };
    assert!(s.checkpoint("j", cp).await.is_err());
    assert_eq!(seqs(&s, "j").await, vec![1, 2]);
    let unknown = s.append_event("nobody", event(1), 100).await;
    assert!(
        matches!(unknown, Err(StoreError::Refused(_))),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn an_ended_jobs_state_is_sticky() {
    let Some(redis) = RedisProc::start() else {
        return;
    };
    let s = RedisStore::open(&redis.url(), "n1").await.unwrap();
    s.create_job(job("j")).await.unwrap();
    let mut st = s.job_state("j").await.unwrap().unwrap();
    st.status = JobStatus::Complete;
    st.end_time = Some(2_000);
    let end = Checkpoint {
        state: Some(st.clone()),
        events: vec![StoredEvent {
            kind: EventKind::Terminal,
            ..event(1)
        }],
        retain: 100,
        ..Default::default()
    };
    s.checkpoint("j", end).await.unwrap();
    st.status = JobStatus::Running;
    let again = Checkpoint {
        state: Some(st),
        ..Default::default()
    };
    assert!(matches!(
        s.checkpoint("j", again).await,
        Err(StoreError::Refused(_))
    ));
    assert!(s.append_event("j", event(2), 100).await.is_err());
    assert_eq!(
        s.job_state("j").await.unwrap().unwrap().status,
        JobStatus::Complete
    );
    assert_eq!(
        s.take_over("j").await.unwrap(),
        None,
        "nothing to take over"
    );
    assert!(s.unfinished().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_redis_that_could_drop_jobs_is_refused() {
    for settings in [
        &["--maxmemory-policy", "allkeys-lru"][..],
        &["--appendonly", "no"][..],
    ] {
        let Some(redis) = RedisProc::start_with(settings) else {
            return;
        };
        match RedisStore::open(&redis.url(), "n1").await {
            Err(StoreError::Unsafe(why)) => {
                assert!(
                    why.contains(&settings[0][2..]),
                    "{why} names {}",
                    settings[0]
                );
            }
            other => panic!("{settings:?}: {:?}", other.map(|_| ())),
        }
    }
}

#[tokio::test]
async fn a_killed_redis_keeps_what_it_acknowledged_and_is_used_again() {
    let Some(mut redis) = RedisProc::start() else {
        return;
    };
    let s = RedisStore::open(&redis.url(), "n1").await.unwrap();
    s.create_job(job("j")).await.unwrap();
    for seq in 1..=50 {
        s.append_event("j", event(seq), 1_000).await.unwrap();
    }
    redis.restart();
    // The same store reconnects by itself; the first calls may fail.
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.append_event("j", event(51), 1_000).await.is_err() {
        assert!(Instant::now() < deadline, "the store did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seqs(&s, "j").await, (1..=51).collect::<Vec<_>>());
    let unfinished = s.unfinished().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].last_event_seq, 51);
}
