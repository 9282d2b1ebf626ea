//! RFC 6455 framing, both ways, for our one use: the server sends unmasked
//! text frames it built once for every viewer, and reads the client's small
//! masked control messages (`ready`, `ping`, close).
//!
//! Our own rather than a general WebSocket library's because the job owner
//! writes each event straight to the socket from its own task (no socket
//! task wakes per event), and a general library's per-socket buffers were
//! most of an idle socket's memory (`docs/perf-notes.md`).
//!
//! The frame header is written by tungstenite's `FrameHeader::format`, and
//! opcodes and close codes are tungstenite's types. The decoder reads the
//! header itself: it refuses a frame from its first bytes (reserved bits,
//! no mask, a length over the limit) before the rest of the header is in,
//! and checks in an order that decides which close reason a client gets;
//! `FrameHeader::parse` waits for the whole header and refuses a reserved
//! opcode first.

use bytes::Bytes;
pub use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

pub const OP_CONTINUATION: OpCode = OpCode::Data(Data::Continue);
pub const OP_TEXT: OpCode = OpCode::Data(Data::Text);
pub const OP_BINARY: OpCode = OpCode::Data(Data::Binary);
pub const OP_CLOSE: OpCode = OpCode::Control(Control::Close);
pub const OP_PING: OpCode = OpCode::Control(Control::Ping);
pub const OP_PONG: OpCode = OpCode::Control(Control::Pong);

/// Close codes of RFC 6455 §7.4.1 that the decoder reports.
pub const CLOSE_PROTOCOL_ERROR: CloseCode = CloseCode::Protocol;
pub const CLOSE_INVALID_DATA: CloseCode = CloseCode::Invalid;
pub const CLOSE_TOO_BIG: CloseCode = CloseCode::Size;

/// Control frames carry at most this much (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// A whole frame as the server sends it: FIN set, unmasked, `payload` after
/// a 2-, 4- or 10-byte header.
pub fn encode(opcode: OpCode, payload: &[u8]) -> Bytes {
    encode_frame(opcode, payload, false)
}

/// As `encode`, with RSV1 set for a compressed message (RFC 7692 §6).
pub fn encode_frame(opcode: OpCode, payload: &[u8], rsv1: bool) -> Bytes {
    let header = FrameHeader {
        opcode,
        rsv1,
        ..FrameHeader::default()
    };
    let len = payload.len() as u64;
    // Exactly the frame's size: `Bytes::from` then keeps the allocation
    // as it is, where spare capacity costs it a second one.
    let mut out = Vec::with_capacity(header.len(len) + payload.len());
    header
        .format(len, &mut out)
        .expect("writing to a Vec cannot fail");
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// A close frame with its code and a reason cut to fit a control frame.
pub fn encode_close(code: CloseCode, reason: &str) -> Bytes {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = u16::from(code).to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    encode(OP_CLOSE, &payload)
}

/// A message from the client, reassembled from its fragments.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    /// The client's close code, if it gave one.
    Close(Option<CloseCode>),
}

/// Why the connection must close: the code to send and a reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} ({code})")]
pub struct Violation {
    pub code: CloseCode,
    pub reason: &'static str,
}

fn violation(code: CloseCode, reason: &'static str) -> Violation {
    Violation { code, reason }
}

/// Whether a client may send `code` in a close frame (RFC 6455 §7.4): the
/// codes defined for use on the wire (1000-1003, 1007-1014, the last three
/// from the IANA registry) and the registered and private ranges
/// (3000-4999). 1004-1006 and 1015 are reserved (never on the wire), the
/// rest unassigned: a client that sends one broke the protocol, and the
/// server answers 1002 rather than echoing it.
pub fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A close frame's code, checked, with its reason checked for UTF-8
/// (RFC 6455 §5.5.1: 1007 if it is not).
fn close_code(payload: &[u8]) -> Result<Option<CloseCode>, Violation> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(violation(CLOSE_PROTOCOL_ERROR, "close payload of one byte")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !close_code_allowed(code) {
                return Err(violation(CLOSE_PROTOCOL_ERROR, "close code not allowed"));
            }
            if std::str::from_utf8(&payload[2..]).is_err() {
                return Err(violation(CLOSE_INVALID_DATA, "close reason is not UTF-8"));
            }
            Ok(Some(CloseCode::from(code)))
        }
    }
}

/// Reads client frames from whatever pieces the socket hands over. Holds no
/// buffer between messages: an idle socket costs nothing here.
#[derive(Debug)]
pub struct Decoder {
    /// Largest frame and largest reassembled message, in payload bytes
    /// (for a compressed message: both on the wire and once inflated).
    max_message: usize,
    /// permessage-deflate was negotiated: RSV1 marks a compressed message.
    deflate: bool,
    /// Bytes of a frame not complete yet.
    partial: Vec<u8>,
    /// A fragmented data message being reassembled: its opcode, whether it
    /// is compressed, and its payload.
    message: Option<(Data, bool, Vec<u8>)>,
}

impl Decoder {
    pub fn new(max_message: usize) -> Decoder {
        Decoder {
            max_message,
            deflate: false,
            partial: Vec::new(),
            message: None,
        }
    }

    /// A decoder for a socket that negotiated permessage-deflate.
    pub fn with_deflate(max_message: usize, deflate: bool) -> Decoder {
        Decoder {
            deflate,
            ..Decoder::new(max_message)
        }
    }

    /// Holds nothing between frames: dropping it loses nothing.
    pub fn is_idle(&self) -> bool {
        self.partial.is_empty() && self.message.is_none()
    }

    /// Decodes every complete frame in what has arrived so far.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Incoming>) -> Result<(), Violation> {
        if self.partial.is_empty() {
            let used = self.frames(data, out)?;
            self.partial.extend_from_slice(&data[used..]);
        } else {
            self.partial.extend_from_slice(data);
            let buf = std::mem::take(&mut self.partial);
            let used = self.frames(&buf, out)?;
            if used < buf.len() {
                self.partial = buf[used..].to_vec();
            }
        }
        Ok(())
    }

    /// Decodes frames from the front of `buf`; returns the bytes used.
    fn frames(&mut self, buf: &[u8], out: &mut Vec<Incoming>) -> Result<usize, Violation> {
        let mut at = 0;
        while let Some(used) = self.frame(&buf[at..], out)? {
            at += used;
        }
        Ok(at)
    }

    /// One frame from the front of `buf`, or `None` if it is not all there.
    fn frame(&mut self, buf: &[u8], out: &mut Vec<Incoming>) -> Result<Option<usize>, Violation> {
        if buf.len() < 2 {
            return Ok(None);
        }
        let (fin, opcode) = (buf[0] & 0x80 != 0, OpCode::from(buf[0] & 0x0F));
        let rsv1 = buf[0] & 0x40 != 0;
        // RSV1 is the compressed bit, on the first frame of a data message
        // only, and only once negotiated (RFC 7692 §6).
        let rsv1_allowed = self.deflate && matches!(opcode, OP_TEXT | OP_BINARY);
        if buf[0] & 0x30 != 0 || (rsv1 && !rsv1_allowed) {
            return Err(violation(CLOSE_PROTOCOL_ERROR, "reserved bits set"));
        }
        if buf[1] & 0x80 == 0 {
            return Err(violation(CLOSE_PROTOCOL_ERROR, "client frame not masked"));
        }
        let (len, mut at) = match buf[1] & 0x7F {
            126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
            127 if buf.len() >= 10 => (
                u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")),
                10,
            ),
            126 | 127 => return Ok(None),
            n => (n as u64, 2),
        };
        // RFC 6455 §5.2: the most significant bit of a 64-bit length MUST
        // be 0; such a frame is malformed, not merely too big.
        if len >> 63 != 0 {
            return Err(violation(
                CLOSE_PROTOCOL_ERROR,
                "payload length with its top bit set",
            ));
        }
        let control = matches!(opcode, OpCode::Control(_));
        if control && (!fin || len > MAX_CONTROL_PAYLOAD as u64) {
            return Err(violation(
                CLOSE_PROTOCOL_ERROR,
                "control frame fragmented or too long",
            ));
        }
        let so_far = self.message.as_ref().map_or(0, |(_, _, m)| m.len()) as u64;
        if len > self.max_message as u64 || (!control && so_far + len > self.max_message as u64) {
            return Err(violation(CLOSE_TOO_BIG, "message too big"));
        }
        let len = len as usize;
        if buf.len() < at + 4 + len {
            return Ok(None);
        }
        let mask: [u8; 4] = buf[at..at + 4].try_into().expect("4 bytes");
        at += 4;
        let payload: Vec<u8> = buf[at..at + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        self.deliver((fin, rsv1), opcode, payload, out)?;
        Ok(Some(at + len))
    }

    fn deliver(
        &mut self,
        (fin, rsv1): (bool, bool),
        opcode: OpCode,
        payload: Vec<u8>,
        out: &mut Vec<Incoming>,
    ) -> Result<(), Violation> {
        let whole = match (opcode, self.message.take()) {
            (OP_PING, m) => {
                self.message = m;
                out.push(Incoming::Ping(payload));
                return Ok(());
            }
            (OP_PONG, m) => {
                self.message = m;
                out.push(Incoming::Pong);
                return Ok(());
            }
            (OP_CLOSE, _) => {
                out.push(Incoming::Close(close_code(&payload)?));
                return Ok(());
            }
            (OpCode::Data(d @ (Data::Text | Data::Binary)), None) => (d, rsv1, payload),
            (OP_CONTINUATION, Some((op, z, mut so_far))) => {
                so_far.extend_from_slice(&payload);
                (op, z, so_far)
            }
            (OP_TEXT | OP_BINARY, Some(_)) => {
                return Err(violation(
                    CLOSE_PROTOCOL_ERROR,
                    "new message inside a fragmented one",
                ))
            }
            (OP_CONTINUATION, None) => {
                return Err(violation(
                    CLOSE_PROTOCOL_ERROR,
                    "continuation with nothing to continue",
                ))
            }
            _ => return Err(violation(CLOSE_PROTOCOL_ERROR, "unknown opcode")),
        };
        if !fin {
            self.message = Some(whole);
            return Ok(());
        }
        let (op, compressed, bytes) = whole;
        let bytes = if compressed {
            super::deflate::inflate(&bytes, self.max_message).map_err(|e| match e {
                super::deflate::InflateError::TooBig => {
                    violation(CLOSE_TOO_BIG, "message too big once inflated")
                }
                super::deflate::InflateError::Corrupt => {
                    violation(CLOSE_INVALID_DATA, "compressed message does not inflate")
                }
            })?
        } else {
            bytes
        };
        out.push(match op {
            Data::Text => Incoming::Text(
                String::from_utf8(bytes)
                    .map_err(|_| violation(CLOSE_INVALID_DATA, "text message is not UTF-8"))?,
            ),
            _ => Incoming::Binary(bytes),
        });
        Ok(())
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
