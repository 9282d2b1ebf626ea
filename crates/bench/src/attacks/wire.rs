//! The attacker's side of the wire: raw TCP, so it can do what no
//! well-behaved client library would (send frames and never read, stop a
//! body half way, write a header that never ends).

use anyhow::{bail, Context, Result};
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server's address from its `http://host:port` URL.
pub fn addr(url: &str) -> Result<SocketAddr> {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("not an http://host:port URL: {url}"))
}

/// Opens a WebSocket to `path` from `source` and reads the handshake's
/// answer: the stream after the 101, or the status line when refused.
pub async fn ws_open(
    server: SocketAddr,
    source: IpAddr,
    path: &str,
) -> Result<std::result::Result<TcpStream, String>> {
    let mut s = crate::load::connect_from(source, server).await?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let head = read_head(&mut s).await?;
    let status = head.lines().next().unwrap_or_default().to_string();
    if status.contains(" 101 ") {
        Ok(Ok(s))
    } else {
        Ok(Err(status))
    }
}

/// Reads up to the end of the HTTP head, byte by byte so nothing after it
/// is consumed.
async fn read_head(s: &mut TcpStream) -> Result<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await? == 0 {
            bail!("the server closed during the handshake");
        }
        head.push(b[0]);
        if head.len() > 64 * 1024 {
            bail!("a handshake answer over 64 KiB");
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// A masked client frame (mask 0: the bytes stay readable in a capture).
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let n = payload.len();
    if n < 126 {
        f.push(0x80 | n as u8);
    } else if n <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Writes `bytes` while the socket takes them, until `total` are sent or the
/// server stops taking them (closed, or a full window for `stall`): the
/// bytes sent.
pub async fn write_until(
    s: &mut TcpStream,
    bytes: &[u8],
    total: usize,
    stall: std::time::Duration,
) -> usize {
    let mut sent = 0;
    while sent < total {
        match tokio::time::timeout(stall, s.write_all(bytes)).await {
            Ok(Ok(())) => sent += bytes.len(),
            _ => break,
        }
    }
    sent
}

/// Reads what the server sends until it closes or `wait` passes: the
/// status line of an HTTP answer, or a WebSocket close code if one came.
pub async fn answer(s: &mut TcpStream, wait: std::time::Duration) -> String {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                got.extend_from_slice(&buf[..n]);
                if got.len() > 1 << 20 {
                    got.drain(..got.len() - 4096);
                }
            }
            Ok(_) => break,
            Err(_) => return "no answer".into(),
        }
    }
    if got.starts_with(b"HTTP/") {
        let line = got.split(|b| *b == b'\r').next().unwrap_or_default();
        return String::from_utf8_lossy(line).into_owned();
    }
    close_code(&got).map_or_else(
        || "closed without a close frame".into(),
        |c| format!("close {c}"),
    )
}

/// The code of the last close frame in `bytes` (server frames are unmasked).
fn close_code(bytes: &[u8]) -> Option<u16> {
    let mut i = 0;
    let mut code = None;
    while i + 2 <= bytes.len() {
        let op = bytes[i] & 0x0f;
        let (len, hdr) = match bytes[i + 1] & 0x7f {
            126 if i + 4 <= bytes.len() => {
                (u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize, 4)
            }
            127 if i + 10 <= bytes.len() => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&bytes[i + 2..i + 10]);
                (u64::from_be_bytes(b) as usize, 10)
            }
            n if n < 126 => (n as usize, 2),
            _ => return code,
        };
        let body = bytes.get(i + hdr..i + hdr + len)?;
        if op == 0x8 && body.len() >= 2 {
            code = Some(u16::from_be_bytes([body[0], body[1]]));
        }
        i += hdr + len;
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_code_is_found_after_other_frames() {
        let mut b = vec![0x81, 2, b'h', b'i'];
        b.extend_from_slice(&[0x88, 2, 0x03, 0xf0]);
        assert_eq!(close_code(&b), Some(1008));
        assert_eq!(close_code(&[0x81, 1, b'x']), None);
    }

    #[test]
    fn frames_carry_their_length_in_the_shortest_form() {
        assert_eq!(frame(1, b"ab")[..2], [0x81, 0x82]);
        assert_eq!(frame(1, &[0; 200])[1], 0x80 | 126);
        assert_eq!(frame(1, &[0; 70_000])[1], 0x80 | 127);
    }
}
