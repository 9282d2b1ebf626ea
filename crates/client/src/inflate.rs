//! permessage-deflate (RFC 7692) for the SDK's sockets, one layer below
//! tungstenite, which has no extension hook and refuses any frame with
//! RSV1 set. The server compresses each message on its own (no context
//! takeover, `crates/server/src/hub/deflate.rs`), so this side keeps no
//! window between messages either.
//!
//! [`Inflating`] wraps the TCP stream: it lets the HTTP handshake through,
//! reads from the 101 whether the server took our offer, and from then on
//! hands tungstenite every server frame as it came, except compressed
//! messages, which it collects, inflates and hands up as one plain frame.
//! What the client writes passes through untouched (a client may send any
//! message uncompressed). Inflation stops at `max_message` bytes: a bomb is
//! an error, not an allocation.

use flate2::{Decompress, FlushDecompress, Status};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The offer the SDK makes when compression is asked for.
pub const OFFER: &str =
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover";

pub struct Inflating<S> {
    inner: S,
    /// Bytes read from the server and not yet understood.
    raw: Vec<u8>,
    /// Bytes ready for tungstenite.
    out: Vec<u8>,
    out_at: usize,
    /// `None` until the 101 has passed; then whether deflate was agreed.
    agreed: Option<bool>,
    /// A compressed message being collected: its opcode and payload.
    message: Option<(u8, Vec<u8>)>,
    max_message: usize,
    eof: bool,
}

impl<S> Inflating<S> {
    pub fn new(inner: S, max_message: usize) -> Inflating<S> {
        Inflating {
            inner,
            raw: Vec::new(),
            out: Vec::new(),
            out_at: 0,
            agreed: None,
            message: None,
            max_message,
            eof: false,
        }
    }

    /// Whether the server agreed to compress (known once connected).
    #[cfg(test)]
    pub fn agreed(&self) -> bool {
        self.agreed == Some(true)
    }

    /// Moves what `raw` holds into `out`, as far as it is complete.
    fn process(&mut self) -> io::Result<()> {
        if self.agreed.is_none() {
            let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Ok(());
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).to_ascii_lowercase();
            self.agreed = Some(head.lines().any(|l| {
                l.starts_with("sec-websocket-extensions:") && l.contains("permessage-deflate")
            }));
            self.out.extend(self.raw.drain(..end + 4));
        }
        if self.agreed == Some(false) {
            self.out.append(&mut self.raw);
            return Ok(());
        }
        while let Some(used) = self.frame()? {
            self.raw.drain(..used);
        }
        Ok(())
    }

    /// One server frame from the front of `raw`; `None` if incomplete.
    fn frame(&mut self) -> io::Result<Option<usize>> {
        let b = &self.raw;
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, rsv1, opcode) = (b[0] & 0x80 != 0, b[0] & 0x40 != 0, b[0] & 0x0f);
        let (len, head) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => return Ok(None),
            n => (n as usize, 2),
        };
        if len > self.max_message {
            return Err(invalid("frame larger than the message limit"));
        }
        if b.len() < head + len {
            return Ok(None);
        }
        let whole = head + len;
        let collecting = self.message.is_some();
        match (opcode, rsv1) {
            (1 | 2, true) if !collecting => {
                self.message = Some((opcode, b[head..whole].to_vec()));
            }
            (0, false) if collecting => {
                let payload = &self.raw[head..whole];
                let m = self.message.as_mut().expect("collecting");
                m.1.extend_from_slice(payload);
                if m.1.len() > self.max_message {
                    return Err(invalid("compressed message larger than the limit"));
                }
            }
            // Control frames, and uncompressed messages, as they came.
            _ => {
                self.out.extend_from_slice(&self.raw[..whole]);
                return Ok(Some(whole));
            }
        }
        if fin {
            let (op, z) = self.message.take().expect("collecting");
            let plain = inflate(&z, self.max_message)?;
            push_frame(&mut self.out, op, &plain);
        }
        Ok(Some(whole))
    }
}

fn invalid(m: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.to_string())
}

/// An unmasked, final frame as tungstenite reads it.
fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// One message, compressed on its own, inflated up to `max` bytes.
pub fn inflate(payload: &[u8], max: usize) -> io::Result<Vec<u8>> {
    let mut d = Decompress::new(false);
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity((payload.len() * 4).clamp(64, max.max(64)));
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64));
        }
        let at = d.total_in() as usize;
        let status = d
            .decompress_vec(&input[at..], &mut out, FlushDecompress::Sync)
            .map_err(|_| invalid("compressed message does not inflate"))?;
        if out.len() > max {
            return Err(invalid("message larger than the limit once inflated"));
        }
        let done = d.total_in() as usize == input.len();
        match status {
            Status::StreamEnd => return Ok(out),
            _ if done && out.len() < out.capacity() => return Ok(out),
            Status::BufError if out.len() < out.capacity() => {
                return Err(invalid("truncated compressed message"))
            }
            _ => {}
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Inflating<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.out_at < this.out.len() {
                let n = (this.out.len() - this.out_at).min(buf.remaining());
                buf.put_slice(&this.out[this.out_at..this.out_at + n]);
                this.out_at += n;
                if this.out_at == this.out.len() {
                    this.out.clear();
                    this.out_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 8192];
            let mut rb = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if rb.filled().is_empty() => this.eof = true,
                Poll::Ready(Ok(())) => {
                    this.raw.extend_from_slice(rb.filled());
                    this.process()?;
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Inflating<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut c = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() + 64);
        c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        out.truncate(out.len() - 4);
        out
    }

    #[tokio::test]
    async fn compressed_frames_come_out_plain_and_the_rest_as_they_came() {
        use tokio::io::AsyncReadExt;
        let text = br#"{"type":"job_progress","seq":3}"#;
        let z = deflate(text);
        let mut wire =
            b"HTTP/1.1 101 Switching\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
                .to_vec();
        let head_len = wire.len();
        wire.push(0xC1); // FIN, RSV1, text
        wire.push(z.len() as u8);
        wire.extend_from_slice(&z);
        wire.extend_from_slice(&[0x89, 0x00]); // a ping, as it came
        let mut s = Inflating::new(&wire[..], 1 << 20);
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert!(s.agreed());
        let mut want = wire[..head_len].to_vec();
        push_frame(&mut want, 1, text);
        want.extend_from_slice(&[0x89, 0x00]);
        assert_eq!(got, want);
    }

    #[test]
    fn a_bomb_is_an_error() {
        let z = deflate(&vec![b' '; 1 << 20]);
        assert!(inflate(&z, 1024).is_err());
        assert_eq!(inflate(&z, 1 << 20).unwrap().len(), 1 << 20);
    }
}
