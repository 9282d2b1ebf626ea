//! `/api/job-state` retries: 5xx retried with the policy's waits, a 4xx
//! never retried, 404 meaning the job is gone.

use bookstrack_client::{Client, ClientError, ResyncPolicy};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn policy() -> ResyncPolicy {
    ResyncPolicy {
        tries: 3,
        waits: vec![
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(400),
        ],
    }
}

const STATE: &str = r#"{"jobId":"j","pipeline":"csv_import","status":"running","totalCount":10,"processedCount":4,"successCount":4,"failureCount":0,"currentStatus":"x","startTime":1,"endTime":null,"version":3,"lastSeq":7}"#;

#[tokio::test]
async fn server_errors_are_retried_with_the_waits() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/job-state/j"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/job-state/j"))
        .respond_with(ResponseTemplate::new(200).set_body_string(STATE))
        .with_priority(2)
        .mount(&s)
        .await;
    let c = Client::new(s.uri()).unwrap();
    let t = Instant::now();
    let state = c.job_state_with_retry("j", "t", &policy()).await.unwrap();
    assert_eq!(state.last_seq, 7);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "waited 100 + 200 ms"
    );
    assert_eq!(s.received_requests().await.unwrap().len(), 3);
    let auth = s.received_requests().await.unwrap()[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(auth, "Bearer t");
}

#[tokio::test]
async fn three_server_errors_give_up() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/job-state/j"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&s)
        .await;
    let c = Client::new(s.uri()).unwrap();
    assert!(c.job_state_with_retry("j", "t", &policy()).await.is_err());
    assert_eq!(s.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_4xx_is_not_retried_and_404_means_gone() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/job-state/j"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string(r#"{"error":"Invalid or expired token"}"#),
        )
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/job-state/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_string(r#"{"error":"Job not found"}"#))
        .mount(&s)
        .await;
    let c = Client::new(s.uri()).unwrap();
    assert!(matches!(
        c.job_state_with_retry("j", "t", &policy()).await,
        Err(ClientError::Unauthorized(_))
    ));
    assert_eq!(
        s.received_requests().await.unwrap().len(),
        1,
        "no retry on 4xx"
    );
    assert!(matches!(
        c.job_state_with_retry("gone", "t", &policy()).await,
        Err(ClientError::JobGone)
    ));
    assert_eq!(s.received_requests().await.unwrap().len(), 2);
}
