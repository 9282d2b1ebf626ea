//! An event serialised once, framed once, and shared by every viewer that
//! receives it: a server frame is unmasked, so its bytes are the same on
//! every socket.

use super::codec::{encode, OP_TEXT};
use bookstrack_protocol::{Envelope, V1Message};
use bytes::Bytes;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

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
    /// When the event was framed: the start of its publish-to-write time.
    pub built: Instant,
    /// The whole WebSocket text frame, header included.
    v2: Bytes,
    /// Rendered on first use: most jobs never have a v1 viewer.
    v1: OnceLock<Bytes>,
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
            built: Instant::now(),
            v2: encode(OP_TEXT, json.as_bytes()),
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

    /// The frame as it goes on the wire to a viewer of `protocol`.
    pub fn wire(&self, protocol: Protocol) -> &[u8] {
        match protocol {
            Protocol::V2 => &self.v2,
            Protocol::V1 => self.v1.get_or_init(|| {
                let env: Envelope =
                    serde_json::from_slice(payload(&self.v2)).expect("own frame parses");
                encode(OP_TEXT, V1Message::from_envelope(&env).to_json().as_bytes())
            }),
        }
    }
}

/// The payload of a frame built by `encode`.
fn payload(frame: &[u8]) -> &[u8] {
    let header = match frame[1] {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    &frame[header..]
}
