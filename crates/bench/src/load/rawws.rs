//! A WebSocket viewer written against the bare TCP stream, for `bench
//! encodings`: it counts every byte read after the 101's headers, so the
//! figure is what went over the wire (compressed frames stay compressed
//! until this code inflates them), and it checks what it got: every
//! event's frame in the negotiated encoding (text or binary, RSV1 set with
//! permessage-deflate), and, decoded with flate2 and rmp-serde, the types
//! and seqs of the events.

use anyhow::{bail, ensure, Context, Result};
use flate2::{Decompress, FlushDecompress, Status};
use serde_json::Value;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The four bytes a sync flush ends with, which permessage-deflate leaves
/// off the wire (RFC 7692 §7.2.1) and an inflater needs back.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// How a viewer asks its events to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Deflate,
    Msgpack,
    MsgpackDeflate,
}

impl Encoding {
    pub const ALL: [Encoding; 4] = [
        Encoding::Json,
        Encoding::Deflate,
        Encoding::Msgpack,
        Encoding::MsgpackDeflate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Deflate => "deflate",
            Encoding::Msgpack => "msgpack",
            Encoding::MsgpackDeflate => "msgpack+deflate",
        }
    }

    pub fn deflate(self) -> bool {
        matches!(self, Encoding::Deflate | Encoding::MsgpackDeflate)
    }

    pub fn msgpack(self) -> bool {
        matches!(self, Encoding::Msgpack | Encoding::MsgpackDeflate)
    }

    /// The upgrade request's headers that ask for this encoding: what a
    /// browser offers for deflate, and the MessagePack subprotocol.
    fn headers(self) -> String {
        let mut h = String::new();
        if self.deflate() {
            h.push_str("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
        }
        if self.msgpack() {
            h.push_str("Sec-WebSocket-Protocol: bookstrack.msgpack\r\n");
        }
        h
    }
}

/// A socket past its 101, with the bytes that came after the headers.
pub struct Opened {
    stream: TcpStream,
    early: Vec<u8>,
    encoding: Encoding,
}

/// Opens `path` (`/ws/progress?…`) on `server` asking for `encoding`, and
/// checks that the 101 granted it (and nothing else).
pub async fn open(server: SocketAddr, path: &str, encoding: Encoding) -> Result<Opened> {
    let mut stream = TcpStream::connect(server).await?;
    stream.set_nodelay(true)?;
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
        encoding.headers()
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1024);
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        ensure!(buf.len() < 16 << 10, "no end to the 101's headers");
        if stream.read_buf(&mut buf).await? == 0 {
            bail!("the server closed during the handshake");
        }
    };
    let head = std::str::from_utf8(&buf[..end]).context("the 101 is not text")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    ensure!(
        status.starts_with("HTTP/1.1 101"),
        "the upgrade got {status:?}"
    );
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    ensure!(
        header("sec-websocket-accept") == Some(accept.as_str()),
        "a wrong Sec-WebSocket-Accept"
    );
    let extensions = header("sec-websocket-extensions");
    if encoding.deflate() {
        let granted = extensions.unwrap_or_default();
        ensure!(
            granted.starts_with("permessage-deflate")
                && granted.contains("server_no_context_takeover"),
            "deflate was offered and the 101 answered {extensions:?}"
        );
    } else {
        ensure!(
            extensions.is_none(),
            "an extension not asked for: {extensions:?}"
        );
    }
    let protocol = header("sec-websocket-protocol");
    let wanted = encoding.msgpack().then_some("bookstrack.msgpack");
    ensure!(
        protocol == wanted,
        "subprotocol {protocol:?}, asked for {wanted:?}"
    );
    Ok(Opened {
        stream,
        early: buf.split_off(end),
        encoding,
    })
}

/// One event as decoded: its `type` and `seq`.
pub type Seen = (String, Option<u64>);

/// What one viewer got, from its 101 to the server's close frame.
#[derive(Debug, Default)]
pub struct Followed {
    /// Bytes read from the socket after the 101's headers, through the
    /// close frame: frame headers, payloads, pings and the close included.
    pub wire_bytes: u64,
    /// Data frames that were job events (a `ready_ack` is not one).
    pub events: u64,
    /// Every event decoded, in order, when asked for (`sample`); else
    /// only the last one.
    pub seen: Vec<Seen>,
    /// The last event, decoded.
    pub last: Option<Value>,
    pub close_code: Option<u16>,
}

/// A server frame's header, parsed from the front of a buffer.
struct Head {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    /// Header length; the payload follows.
    header: usize,
    len: usize,
}

fn parse_head(b: &[u8]) -> Result<Option<Head>> {
    if b.len() < 2 {
        return Ok(None);
    }
    ensure!(b[0] & 0x30 == 0, "RSV2 or RSV3 set");
    ensure!(b[1] & 0x80 == 0, "a masked server frame");
    let (header, len) = match b[1] & 0x7f {
        126 if b.len() >= 4 => (4, u16::from_be_bytes([b[2], b[3]]) as usize),
        127 if b.len() >= 10 => (
            10,
            u64::from_be_bytes(b[2..10].try_into().expect("eight bytes")) as usize,
        ),
        126 | 127 => return Ok(None),
        n => (2, n as usize),
    };
    Ok(Some(Head {
        fin: b[0] & 0x80 != 0,
        rsv1: b[0] & 0x40 != 0,
        opcode: b[0] & 0x0f,
        header,
        len,
    }))
}

/// A masked client frame (the mask need not be secret here).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x13, 0xc7, 0x2e];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n @ 126..=0xffff => {
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

/// One compressed message inflated on its own (no context takeover).
pub fn inflate(d: &mut Decompress, payload: &[u8]) -> Result<Vec<u8>> {
    d.reset(false);
    let mut input = Vec::with_capacity(payload.len() + TAIL.len());
    input.extend_from_slice(payload);
    input.extend_from_slice(&TAIL);
    let mut out = Vec::with_capacity(payload.len() * 4 + 64);
    loop {
        let read = d.total_in() as usize;
        let status = d
            .decompress_vec(&input[read..], &mut out, FlushDecompress::Sync)
            .context("not a deflate stream")?;
        let done = d.total_in() as usize == input.len();
        if status == Status::StreamEnd || (done && out.len() < out.capacity()) {
            return Ok(out);
        }
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        } else if d.total_in() as usize == read {
            bail!("inflate made no progress");
        }
    }
}

/// A message's payload decoded as its encoding says: inflated when
/// compressed, then MessagePack or JSON.
fn decode(d: &mut Decompress, rsv1: bool, opcode: u8, payload: &[u8]) -> Result<Value> {
    let inflated;
    let bytes = if rsv1 {
        inflated = inflate(d, payload)?;
        &inflated[..]
    } else {
        payload
    };
    Ok(if opcode == OP_BINARY {
        rmp_serde::from_slice(bytes).context("not MessagePack")?
    } else {
        serde_json::from_slice(bytes).context("not JSON")?
    })
}

fn seen_of(v: &Value) -> Seen {
    (
        v["type"].as_str().unwrap_or_default().to_string(),
        v["seq"].as_u64(),
    )
}

impl Opened {
    /// Reads until the server's close frame. With `ready`, first sends
    /// `{"type":"ready"}` (which starts a waiting job). With `sample`,
    /// decodes every message; else only the last event.
    pub async fn follow(mut self, ready: bool, sample: bool) -> Result<Followed> {
        if ready {
            self.stream
                .write_all(&client_frame(OP_TEXT, br#"{"type":"ready"}"#))
                .await?;
        }
        let enc = self.encoding;
        let data_op = if enc.msgpack() { OP_BINARY } else { OP_TEXT };
        let mut f = Followed {
            wire_bytes: self.early.len() as u64,
            ..Followed::default()
        };
        let mut d = Decompress::new(false);
        let mut buf = std::mem::take(&mut self.early);
        buf.reserve(64 << 10);
        let mut last: Option<(bool, Vec<u8>)> = None;
        let mut at = 0usize;
        loop {
            while let Some(h) = parse_head(&buf[at..])? {
                let (start, end) = (at + h.header, at + h.header + h.len);
                if buf.len() < end {
                    break;
                }
                let payload = &buf[start..end];
                at = end;
                match h.opcode {
                    OP_CLOSE => {
                        f.close_code = (payload.len() >= 2)
                            .then(|| u16::from_be_bytes([payload[0], payload[1]]));
                        let reply = client_frame(OP_CLOSE, &payload[..payload.len().min(2)]);
                        let _ = self.stream.write_all(&reply).await;
                        if let Some((rsv1, p)) = last {
                            let v = decode(&mut d, rsv1, data_op, &p)?;
                            f.seen.push(seen_of(&v));
                            f.last = Some(v);
                        }
                        return Ok(f);
                    }
                    OP_PING => {
                        self.stream
                            .write_all(&client_frame(OP_PONG, payload))
                            .await?;
                    }
                    OP_PONG => {}
                    OP_CONTINUATION => bail!("a fragmented message"),
                    op => {
                        ensure!(h.fin, "a fragmented message");
                        ensure!(
                            op == data_op,
                            "a frame of opcode {op} for a {} viewer",
                            enc.name()
                        );
                        ensure!(
                            !h.rsv1 || enc.deflate(),
                            "RSV1 on a socket without permessage-deflate"
                        );
                        if sample {
                            let v = decode(&mut d, h.rsv1, op, payload)?;
                            let s = seen_of(&v);
                            if matches!(s.0.as_str(), "ready_ack" | "pong") {
                                continue;
                            }
                            ensure!(h.rsv1 == enc.deflate(), "a {} event not compressed", s.0);
                            f.events += 1;
                            f.seen.push(s);
                            f.last = Some(v);
                        } else {
                            // Only the sample viewer sent `ready`: every
                            // message to the others is an event.
                            ensure!(
                                h.rsv1 == enc.deflate(),
                                "an event not compressed with permessage-deflate"
                            );
                            f.events += 1;
                            last = Some((h.rsv1, payload.to_vec()));
                        }
                    }
                }
            }
            buf.drain(..at);
            at = 0;
            let n = self.stream.read_buf(&mut buf).await?;
            if n == 0 {
                bail!("the socket ended before a close frame");
            }
            f.wire_bytes += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bookstrack_server::hub::deflate;

    #[test]
    fn inflates_what_the_server_compresses() {
        let mut d = Decompress::new(false);
        let text = br#"{"type":"job_progress","seq":7,"payload":{"status":"Processed 700 of 10000 rows"}}"#;
        for msg in [&text[..], &text.repeat(300), b""] {
            let z = deflate::compress(msg);
            assert_eq!(inflate(&mut d, &z).unwrap(), msg);
        }
        assert!(inflate(&mut d, &[0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
    }

    #[test]
    fn parses_server_frame_headers() {
        let h = parse_head(&[0xc1, 5]).unwrap().unwrap();
        assert!(h.fin && h.rsv1);
        assert_eq!((h.opcode, h.header, h.len), (OP_TEXT, 2, 5));
        let h = parse_head(&[0x82, 126, 1, 0]).unwrap().unwrap();
        assert_eq!((h.opcode, h.header, h.len), (OP_BINARY, 4, 256));
        assert!(parse_head(&[0x82, 126, 1]).unwrap().is_none());
        assert!(parse_head(&[0x81, 0x85]).is_err(), "masked");
    }

    #[test]
    fn decodes_msgpack_into_the_json_shape() {
        let v = serde_json::json!({"type": "job_complete", "seq": 103, "payload": {"result": {"successCount": 10}}});
        let mp = rmp_serde::to_vec_named(&v).unwrap();
        let mut d = Decompress::new(false);
        assert_eq!(decode(&mut d, false, OP_BINARY, &mp).unwrap(), v);
        let z = deflate::compress(&mp);
        assert_eq!(decode(&mut d, true, OP_BINARY, &z).unwrap(), v);
    }
}
