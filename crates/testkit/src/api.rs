//! The HTTP API by URL, for tests and spawned tasks that hold no
//! [`crate::TestServer`].

use serde_json::Value;

/// A plain HTTP client. reqwest is built without a default TLS provider,
/// so one is installed first (a second install is a harmless no-op).
pub fn http() -> reqwest::Client {
    crate::install_crypto();
    reqwest::Client::new()
}

/// POSTs `body` as JSON to `base` + `path`: the status and the JSON answer
/// (`Null` when the answer is not JSON). Free-standing for spawned tasks.
pub async fn post_json(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let r = http
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Uploads `csv` as a Goodreads export; (jobId, token), asserting a 202.
pub async fn upload(url: &str, csv: Vec<u8>) -> (String, String) {
    let part = reqwest::multipart::Part::bytes(csv).file_name("goodreads_library_export.csv");
    let resp = http()
        .post(format!("{url}/api/import/csv"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let v: Value = resp.json().await.unwrap();
    (
        v["data"]["jobId"].as_str().unwrap().into(),
        v["data"]["token"].as_str().unwrap().into(),
    )
}

/// GETs `path` with `token` as bearer: the status and the JSON answer.
/// Starts `count` synthetic jobs of `steps` steps, `interval_ms` apart, on
/// a server run with synthetic jobs enabled: (job id, token) each.
pub async fn synthetic_jobs(
    url: &str,
    count: usize,
    steps: u64,
    interval_ms: u64,
) -> Vec<(String, String)> {
    let body = serde_json::json!({"count": count, "steps": steps, "intervalMs": interval_ms});
    let (status, body) = post_json(&http(), url, "/api/synthetic/jobs", &body).await;
    assert_eq!(status, 202, "{body}");
    body["data"]["jobs"]
        .as_array()
        .expect("the jobs started")
        .iter()
        .map(|j| {
            let field = |k: &str| j[k].as_str().expect("jobId and token").to_string();
            (field("jobId"), field("token"))
        })
        .collect()
}

pub async fn get(url: &str, path: &str, token: &str) -> (u16, Value) {
    let r = http()
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}
