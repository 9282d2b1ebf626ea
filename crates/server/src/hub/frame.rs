//! An event serialised once, framed once, and shared by every viewer that
//! receives it: a server frame is unmasked, so its bytes are the same on
//! every socket. The same holds for each other encoding a socket may have
//! negotiated (`Wire`): compressed (no context takeover, `hub::deflate`)
//! and MessagePack frames are each made once per event, on first use.

use super::codec::{encode, encode_frame, OP_BINARY, OP_TEXT};
use super::deflate;
use bookstrack_protocol::{Envelope, V1Message};
use bytes::Bytes;
use serde::Serialize;
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

/// How one socket's frames go on the wire: the message shapes (v1 or v2),
/// JSON text or MessagePack binary (`bookstrack.msgpack`, v2 only), and
/// whether data frames are compressed (permessage-deflate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wire {
    pub protocol: Protocol,
    pub msgpack: bool,
    pub deflate: bool,
}

impl Wire {
    pub fn plain(protocol: Protocol) -> Wire {
        Wire {
            protocol,
            ..Wire::default()
        }
    }

    /// A message of the socket's own (`pong`, a notice), framed for this
    /// socket alone: text JSON or MessagePack, never compressed (RFC 7692
    /// lets each message choose).
    pub fn control<T: Serialize>(&self, msg: &T) -> Bytes {
        if self.msgpack {
            encode(OP_BINARY, &to_msgpack(msg))
        } else {
            let json = serde_json::to_string(msg).expect("messages serialise");
            encode(OP_TEXT, json.as_bytes())
        }
    }
}

impl From<Protocol> for Wire {
    fn from(protocol: Protocol) -> Wire {
        Wire::plain(protocol)
    }
}

/// MessagePack with field names, so that a decoder sees the JSON shape.
fn to_msgpack<T: Serialize>(msg: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(msg).expect("messages serialise to MessagePack")
}

/// The rarer encodings of a frame, made on first use.
#[derive(Debug, Default)]
struct Variants {
    v2_deflate: OnceLock<Bytes>,
    v1_deflate: OnceLock<Bytes>,
    msgpack: OnceLock<Bytes>,
    msgpack_deflate: OnceLock<Bytes>,
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
    /// One pointer until a viewer asks for another encoding.
    variants: OnceLock<Box<Variants>>,
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
            variants: OnceLock::new(),
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

    /// The frame as it goes on the wire to a viewer of `wire`.
    pub fn wire(&self, wire: Wire) -> &[u8] {
        match (wire.msgpack, wire.protocol, wire.deflate) {
            (false, Protocol::V2, false) => &self.v2,
            (false, Protocol::V1, false) => self.v1(),
            (false, Protocol::V2, true) => self
                .variants()
                .v2_deflate
                .get_or_init(|| compressed(OP_TEXT, payload(&self.v2))),
            (false, Protocol::V1, true) => self
                .variants()
                .v1_deflate
                .get_or_init(|| compressed(OP_TEXT, payload(self.v1()))),
            (true, _, false) => self.msgpack(),
            (true, _, true) => self
                .variants()
                .msgpack_deflate
                .get_or_init(|| compressed(OP_BINARY, payload(self.msgpack()))),
        }
    }

    fn variants(&self) -> &Variants {
        self.variants.get_or_init(Box::default)
    }

    fn envelope(&self) -> Envelope {
        serde_json::from_slice(payload(&self.v2)).expect("own frame parses")
    }

    fn v1(&self) -> &Bytes {
        self.v1.get_or_init(|| {
            let v1 = V1Message::from_envelope(&self.envelope()).to_json();
            encode(OP_TEXT, v1.as_bytes())
        })
    }

    fn msgpack(&self) -> &Bytes {
        self.variants()
            .msgpack
            .get_or_init(|| encode(OP_BINARY, &to_msgpack(&self.envelope())))
    }
}

/// A data frame with RSV1 set, its payload compressed on its own.
fn compressed(opcode: super::codec::OpCode, data: &[u8]) -> Bytes {
    encode_frame(opcode, &deflate::compress(data), true)
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
