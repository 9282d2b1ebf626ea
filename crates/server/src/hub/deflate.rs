//! permessage-deflate (RFC 7692) as this server uses it: no context
//! takeover either way, so that an event is compressed once and the same
//! bytes go to every viewer that negotiated it (`Frame::wire`), and a
//! client message is inflated on its own, with no window kept per socket.
//!
//! flate2 (miniz_oxide) does the work; its compressor and decompressor are
//! large, so each thread keeps one of each and resets it per message.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::cell::RefCell;

/// The four bytes a sync flush ends with, left off the wire (§7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

thread_local! {
    static COMPRESS: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
    static DECOMPRESS: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// One message compressed on its own, as the payload of an RSV1 frame.
pub fn compress(data: &[u8]) -> Vec<u8> {
    COMPRESS.with(|c| {
        let mut c = c.borrow_mut();
        c.reset();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            let read = c.total_in() as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            c.compress_vec(&data[read..], &mut out, FlushCompress::Sync)
                .expect("deflate of a buffer in memory cannot fail");
            if c.total_in() as usize == data.len() && out.ends_with(&TAIL) {
                break;
            }
        }
        out.truncate(out.len() - TAIL.len());
        out
    })
}

/// Why an inflate stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The message would be larger than the limit (a deflate bomb, or just
    /// too big): close with 1009.
    TooBig,
    /// Not a deflate stream: close with 1007.
    Corrupt,
}

/// A compressed message's payload inflated, refusing at once to grow past
/// `max` bytes: memory stays bounded by the message limit, whatever the
/// ratio.
pub fn inflate(payload: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
    DECOMPRESS.with(|d| {
        let mut d = d.borrow_mut();
        d.reset(false);
        let mut input = Vec::with_capacity(payload.len() + TAIL.len());
        input.extend_from_slice(payload);
        input.extend_from_slice(&TAIL);
        let mut out = Vec::with_capacity((payload.len() * 4).clamp(64, max.max(64)));
        loop {
            let read = d.total_in() as usize;
            if out.len() == out.capacity() {
                if out.len() > max {
                    return Err(InflateError::TooBig);
                }
                out.reserve((out.capacity()).min(max + 1 - out.len()).max(64));
            }
            let status = d
                .decompress_vec(&input[read..], &mut out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            if out.len() > max {
                return Err(InflateError::TooBig);
            }
            let done = d.total_in() as usize == input.len();
            match status {
                Status::StreamEnd => return Ok(out),
                _ if done && out.len() < out.capacity() => return Ok(out),
                Status::BufError if out.len() < out.capacity() => {
                    return Err(InflateError::Corrupt)
                }
                _ => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_shrinks_json() {
        let text =
            br#"{"type":"job_progress","jobId":"0194","pipeline":"csv_import","seq":7}"#.repeat(20);
        let z = compress(&text);
        assert!(z.len() < text.len() / 4, "{} of {}", z.len(), text.len());
        assert_eq!(inflate(&z, 1 << 20).unwrap(), text);
        assert_eq!(inflate(&compress(b""), 16).unwrap(), b"");
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 8 << 20];
        let z = compress(&zeros);
        assert!(z.len() < zeros.len() / 100, "{}", z.len());
        assert_eq!(inflate(&z, 64 << 10), Err(InflateError::TooBig));
        let exact = vec![b'a'; 4096];
        assert_eq!(inflate(&compress(&exact), 4096).unwrap().len(), 4096);
        assert_eq!(inflate(&compress(&exact), 4095), Err(InflateError::TooBig));
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(
            inflate(&[0xff, 0xff, 0xff, 0xff, 0x01], 1024),
            Err(InflateError::Corrupt)
        );
    }
}
