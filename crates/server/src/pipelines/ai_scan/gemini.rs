//! The Generative Language API: the photo inline, a JSON response schema of
//! books. Timeouts and retries as for enrichment.

use super::matcher::Line;
use crate::pipelines::outbound;
use base64::Engine;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

pub struct Gemini {
    pub base: String,
    pub model: String,
    pub api_key: String,
    pub timeout: Duration,
    pub retries: usize,
    /// `--max-upstream-bytes`: one answer's body.
    pub max_body_bytes: usize,
}

const PROMPT: &str =
    "List every book whose spine or cover is visible in this photo of a bookshelf. \
For each, give its title, its author if visible, and your confidence from 0 to 1.";

/// The request body: the photo inline and the schema of the answer.
pub fn request_body(mime: &str, bytes: &[u8]) -> Value {
    json!({
        "contents": [{"parts": [
            {"text": PROMPT},
            {"inline_data": {"mime_type": mime, "data": base64::engine::general_purpose::STANDARD.encode(bytes)}}
        ]}],
        "generationConfig": {
            "response_mime_type": "application/json",
            "response_schema": {"type": "ARRAY", "items": {"type": "OBJECT",
                "properties": {"title": {"type": "STRING"}, "author": {"type": "STRING"}, "confidence": {"type": "NUMBER"}},
                "required": ["title"]}}
        }
    })
}

/// The books of a `generateContent` answer, as lines `title — author`.
pub fn lines_from_response(v: &Value) -> Result<Vec<Line>, String> {
    let text = v
        .pointer("/candidates/0/content/parts/0/text")
        .and_then(Value::as_str)
        .ok_or("the answer has no candidate text")?;
    let books: Vec<Value> =
        serde_json::from_str(text).map_err(|e| format!("the answer is not the asked JSON: {e}"))?;
    Ok(books
        .iter()
        .filter_map(|b| {
            let title = b.get("title")?.as_str()?.trim();
            (!title.is_empty()).then(|| Line {
                text: match b.get("author").and_then(Value::as_str) {
                    Some(a) if !a.trim().is_empty() => format!("{title} {a}"),
                    _ => title.to_string(),
                },
                confidence: b
                    .get("confidence")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.5)
                    .clamp(0.0, 1.0),
            })
        })
        .collect())
}

impl Gemini {
    pub async fn read(&self, photo: &Path, mime: &str) -> Result<Vec<Line>, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bytes = tokio::fs::read(photo).await.map_err(|e| e.to_string())?;
        let body = request_body(mime, &bytes);
        let url = format!(
            "{}/v1beta/models/{}:generateContent",
            self.base.trim_end_matches('/'),
            self.model
        );
        // Never to another host: the key travels in a header.
        let client = reqwest::Client::builder()
            .redirect(outbound::same_origin_redirects())
            .build()
            .map_err(|e| format!("could not build the Gemini client: {e}"))?;
        let mut last = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << attempt.min(4))).await;
            }
            let sent = client
                .post(&url)
                .header("x-goog-api-key", &self.api_key)
                .timeout(self.timeout)
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    let body = outbound::read_capped(r, self.max_body_bytes)
                        .await
                        .map_err(|e| format!("Gemini: {e}"))?;
                    let v: Value = serde_json::from_slice(&body)
                        .map_err(|e| format!("Gemini sent malformed JSON: {e}"))?;
                    return lines_from_response(&v);
                }
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                    last = format!("Gemini answered HTTP {}", r.status().as_u16());
                }
                Ok(r) => {
                    return Err(format!(
                        "Gemini refused the request (HTTP {})",
                        r.status().as_u16()
                    ))
                }
                Err(e) => {
                    last = if e.is_timeout() {
                        "Gemini timed out".into()
                    } else {
                        format!("Gemini unreachable: {e}")
                    }
                }
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_generate_content_answer() {
        let v = json!({"candidates": [{"content": {"parts": [{"text":
            "[{\"title\": \"Dune\", \"author\": \"Frank Herbert\", \"confidence\": 0.93}, {\"title\": \"\"}]"}], "role": "model"},
            "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 1290}});
        let l = lines_from_response(&v).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].text, "Dune Frank Herbert");
        assert!((l[0].confidence - 0.93).abs() < 1e-9);
        assert!(lines_from_response(&json!({"candidates": []})).is_err());
    }
}
