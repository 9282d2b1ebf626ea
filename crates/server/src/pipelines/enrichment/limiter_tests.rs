use super::*;
use std::sync::Mutex as StdMutex;

#[tokio::test(start_paused = true)]
async fn spaces_requests() {
    let l = RateLimiter::new(4.0);
    let t0 = Instant::now();
    for _ in 0..5 {
        l.acquire(Lane::default()).await;
    }
    let e = t0.elapsed();
    // Four intervals of 250 ms plus the safety gap each.
    assert!(
        e >= Duration::from_millis(1200) && e < Duration::from_millis(1250),
        "{e:?}"
    );
    l.pause_for(Duration::from_secs(5));
    let t1 = Instant::now();
    l.acquire(Lane::default()).await;
    assert!(t1.elapsed() >= Duration::from_secs(5));
}

/// Queues `n` requests of `lane`, each recording `name` when its turn comes.
fn queue(
    l: &Arc<RateLimiter>,
    lane: Lane,
    name: &'static str,
    n: usize,
    order: &Arc<StdMutex<Vec<&'static str>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let (l, order) = (l.clone(), order.clone());
            tokio::spawn(async move {
                l.acquire(lane).await;
                order.lock().unwrap().push(name);
            })
        })
        .collect()
}

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn jobs_take_turns_rather_than_wait_in_arrival_order() {
    let l = Arc::new(RateLimiter::new(10.0));
    let order = Arc::new(StdMutex::new(Vec::new()));
    let client = Some("10.0.0.1".parse().unwrap());
    let mut tasks = queue(&l, Lane { client, job: 1 }, "A", 50, &order);
    settle().await;
    tasks.extend(queue(&l, Lane { client, job: 2 }, "B", 3, &order));
    for t in tasks {
        t.await.unwrap();
    }
    let order = order.lock().unwrap();
    let last_b = order.iter().rposition(|n| *n == "B").unwrap();
    assert!(
        last_b <= 7,
        "B's 3 requests alternate with A's 50 queued before them: {order:?}"
    );
    assert_eq!(order.len(), 53);
}

#[tokio::test(start_paused = true)]
async fn clients_take_turns_whatever_their_number_of_jobs() {
    let l = Arc::new(RateLimiter::new(10.0));
    let order = Arc::new(StdMutex::new(Vec::new()));
    let greedy = Some("10.0.0.1".parse().unwrap());
    let mut tasks = Vec::new();
    for job in 0..10 {
        tasks.extend(queue(
            &l,
            Lane {
                client: greedy,
                job,
            },
            "A",
            5,
            &order,
        ));
    }
    settle().await;
    let other = Some("10.0.0.2".parse().unwrap());
    tasks.extend(queue(
        &l,
        Lane {
            client: other,
            job: 99,
        },
        "B",
        3,
        &order,
    ));
    for t in tasks {
        t.await.unwrap();
    }
    let order = order.lock().unwrap();
    let last_b = order.iter().rposition(|n| *n == "B").unwrap();
    assert!(
        last_b <= 7,
        "one of ten jobs of another client would wait 30 turns: {order:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiter_that_gave_up_costs_no_turn() {
    let l = Arc::new(RateLimiter::new(1.0));
    l.acquire(Lane::default()).await;
    let gone = {
        let l = l.clone();
        tokio::spawn(async move {
            l.acquire(Lane {
                client: None,
                job: 7,
            })
            .await;
        })
    };
    settle().await;
    gone.abort();
    let t0 = Instant::now();
    l.acquire(Lane::default()).await;
    let waited = t0.elapsed();
    assert!(waited <= Duration::from_millis(1050), "{waited:?}");
}
