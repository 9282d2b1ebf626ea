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
mod tests {
    use super::*;

    /// A frame as a client sends it: masked.
    fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut f = vec![(if fin { 0x80 } else { 0 }) | u8::from(opcode)];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 65535 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn decode(max: usize, bytes: &[u8]) -> Result<Vec<Incoming>, Violation> {
        let mut d = Decoder::new(max);
        let mut out = Vec::new();
        d.feed(bytes, &mut out)?;
        Ok(out)
    }

    #[test]
    fn server_frames_have_the_shortest_header() {
        assert_eq!(&encode(OP_TEXT, b"hi")[..], &[0x81, 2, b'h', b'i']);
        let mid = encode(OP_TEXT, &[b'a'; 126]);
        assert_eq!(&mid[..4], &[0x81, 126, 0, 126]);
        let big = encode(OP_TEXT, &vec![b'a'; 70_000]);
        assert_eq!(&big[..2], &[0x81, 127]);
        assert_eq!(u64::from_be_bytes(big[2..10].try_into().unwrap()), 70_000);
    }

    /// The header as written by hand before `FrameHeader::format`.
    fn header_by_hand(opcode: u8, n: usize) -> Vec<u8> {
        let mut out = vec![0x80 | opcode];
        match n {
            n if n < 126 => out.push(n as u8),
            n if n <= 65_535 => out.extend([126].into_iter().chain((n as u16).to_be_bytes())),
            n => out.extend([127].into_iter().chain((n as u64).to_be_bytes())),
        }
        out
    }

    #[test]
    fn frames_are_the_bytes_they_were() {
        for op in [OP_TEXT, OP_CLOSE, OP_PING, OP_PONG] {
            for n in [0, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
                let payload = vec![b'x'; n];
                let mut want = header_by_hand(u8::from(op), n);
                want.extend_from_slice(&payload);
                assert_eq!(&encode(op, &payload)[..], &want[..], "{op:?} {n}");
            }
        }
    }

    #[test]
    fn every_close_code_is_echoed_as_received() {
        for code in 0..=u16::MAX {
            assert_eq!(u16::from(CloseCode::from(code)), code);
        }
    }

    fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        client_frame(true, OP_CLOSE, &payload)
    }

    #[test]
    fn reserved_and_unassigned_close_codes_are_protocol_errors() {
        let bad = (0..=999)
            .chain([1004, 1005, 1006, 1015])
            .chain(1016..=2999)
            .chain(5000..=u16::MAX);
        for code in bad {
            let e = decode(100, &close_frame(code, b"")).unwrap_err();
            assert_eq!(e.code, CLOSE_PROTOCOL_ERROR, "{code}");
        }
        let good = (1000..=1003).chain(1007..=1014).chain(3000..=4999);
        for code in good {
            let out = decode(100, &close_frame(code, b"bye")).unwrap();
            assert_eq!(out, vec![Incoming::Close(Some(CloseCode::from(code)))]);
        }
    }

    #[test]
    fn a_close_reason_that_is_not_utf8_is_1007() {
        let e = decode(100, &close_frame(1000, &[0xff, 0xfe])).unwrap_err();
        assert_eq!(e.code, CLOSE_INVALID_DATA);
        assert!(decode(100, &close_frame(1000, "fin é".as_bytes())).is_ok());
    }

    #[test]
    fn a_64_bit_length_with_its_top_bit_set_is_1002_not_1009() {
        let mut f = vec![0x81, 0x80 | 127];
        f.extend_from_slice(&(1u64 << 63 | 1u64 << 40).to_be_bytes());
        f.extend_from_slice(&[0; 4]);
        let e = decode(1 << 20, &f).unwrap_err();
        assert_eq!(e.code, CLOSE_PROTOCOL_ERROR, "{e}");
        // Without the top bit, the same header is only too big.
        f[2] &= 0x7f;
        assert_eq!(decode(1 << 20, &f).unwrap_err().code, CLOSE_TOO_BIG);
    }

    #[test]
    fn close_reason_is_cut_on_a_char_boundary() {
        let f = encode_close(CloseCode::Normal, &"é".repeat(100));
        assert!(f.len() - 2 <= MAX_CONTROL_PAYLOAD);
        assert!(std::str::from_utf8(&f[4..]).is_ok());
    }

    #[test]
    fn frames_split_anywhere_decode_the_same() {
        let mut bytes = client_frame(true, OP_TEXT, b"{\"type\":\"ping\"}");
        bytes.extend(client_frame(false, OP_TEXT, b"hel"));
        bytes.extend(client_frame(true, OP_PING, b"p"));
        bytes.extend(client_frame(true, OP_CONTINUATION, &[b'l'; 300]));
        bytes.extend(client_frame(true, OP_CLOSE, &1000u16.to_be_bytes()));
        let whole = decode(1024, &bytes).unwrap();
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[1], Incoming::Ping(b"p".to_vec()));
        assert_eq!(whole[2], Incoming::Text(format!("hel{}", "l".repeat(300))));
        assert_eq!(whole[3], Incoming::Close(Some(CloseCode::Normal)));
        for cut in 1..bytes.len() {
            let mut d = Decoder::new(1024);
            let mut out = Vec::new();
            d.feed(&bytes[..cut], &mut out).unwrap();
            d.feed(&bytes[cut..], &mut out).unwrap();
            assert_eq!(out, whole, "split at {cut}");
            assert!(d.partial.is_empty());
        }
    }

    #[test]
    fn message_size_limit_is_exact() {
        assert!(decode(200, &client_frame(true, OP_TEXT, &[b'a'; 200])).is_ok());
        let over = decode(200, &client_frame(true, OP_TEXT, &[b'a'; 201])).unwrap_err();
        assert_eq!(over.code, CLOSE_TOO_BIG);
        // The limit is on the reassembled message, not only on each frame.
        let mut two = client_frame(false, OP_TEXT, &[b'a'; 100]);
        two.extend(client_frame(true, OP_CONTINUATION, &[b'a'; 100]));
        assert!(decode(200, &two).is_ok());
        let mut three = client_frame(false, OP_TEXT, &[b'a'; 100]);
        three.extend(client_frame(true, OP_CONTINUATION, &[b'a'; 101]));
        assert_eq!(decode(200, &three).unwrap_err().code, CLOSE_TOO_BIG);
    }

    #[test]
    fn too_big_is_known_from_the_header_alone() {
        let frame = client_frame(true, OP_TEXT, &vec![b'a'; 70_000]);
        assert_eq!(
            decode(65_536, &frame[..14]).unwrap_err().code,
            CLOSE_TOO_BIG
        );
    }

    #[test]
    fn protocol_violations_are_refused() {
        let unmasked = [0x81, 1, b'a'];
        assert_eq!(
            decode(100, &unmasked).unwrap_err().code,
            CLOSE_PROTOCOL_ERROR
        );
        let mut rsv = client_frame(true, OP_TEXT, b"a");
        rsv[0] |= 0x40;
        assert_eq!(decode(100, &rsv).unwrap_err().code, CLOSE_PROTOCOL_ERROR);
        let orphan = client_frame(true, OP_CONTINUATION, b"a");
        assert_eq!(decode(100, &orphan).unwrap_err().code, CLOSE_PROTOCOL_ERROR);
        let long_ping = client_frame(true, OP_PING, &[0; 126]);
        assert_eq!(
            decode(1000, &long_ping).unwrap_err().code,
            CLOSE_PROTOCOL_ERROR
        );
        let bad_text = client_frame(true, OP_TEXT, &[0xff, 0xfe]);
        assert_eq!(decode(100, &bad_text).unwrap_err().code, CLOSE_INVALID_DATA);
        let unknown = client_frame(true, OpCode::from(0x3), b"");
        assert_eq!(
            decode(100, &unknown).unwrap_err().code,
            CLOSE_PROTOCOL_ERROR
        );
    }
}
