//! An event serialised once and shared by every viewer that receives it.

use axum::extract::ws::Utf8Bytes;
use bookstrack_protocol::{Envelope, V1Message};
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// `job_progress`: may be coalesced for a slow viewer.
    Progress,
    /// `job_complete` / `error`: never dropped, followed by close 1000.
    Terminal,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    V1,
    #[default]
    V2,
}

#[derive(Debug)]
pub struct Frame {
    pub seq: Option<u64>,
    pub kind: FrameKind,
    v2: Utf8Bytes,
    /// Rendered on first use: most jobs never have a v1 viewer.
    v1: OnceLock<Utf8Bytes>,
}

fn kind_of(env: &Envelope) -> FrameKind {
    use bookstrack_protocol::MessageType as T;
    match env.kind() {
        T::JobProgress => FrameKind::Progress,
        T::JobComplete | T::Error => FrameKind::Terminal,
        _ => FrameKind::Other,
    }
}

impl Frame {
    pub fn new(env: &Envelope, json: String) -> Arc<Frame> {
        Arc::new(Frame {
            seq: env.seq(),
            kind: kind_of(env),
            v2: Utf8Bytes::from(json),
            v1: OnceLock::new(),
        })
    }

    pub fn from_envelope(env: &Envelope) -> Arc<Frame> {
        Frame::new(env, env.to_json())
    }

    /// A logged event read back from storage; `None` if it does not parse.
    pub fn from_stored(json: String) -> Option<Arc<Frame>> {
        let env: Envelope = serde_json::from_str(&json).ok()?;
        Some(Frame::new(&env, json))
    }

    pub fn text(&self, protocol: Protocol) -> Utf8Bytes {
        match protocol {
            Protocol::V2 => self.v2.clone(),
            Protocol::V1 => self
                .v1
                .get_or_init(|| {
                    let env: Envelope =
                        serde_json::from_str(self.v2.as_str()).expect("own frame parses");
                    Utf8Bytes::from(V1Message::from_envelope(&env).to_json())
                })
                .clone(),
        }
    }
}
