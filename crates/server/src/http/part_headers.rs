//! `--max-part-header-bytes`: a multipart part's header block is bounded
//! before the multipart parser sees it.
//!
//! The parser (multer, under axum's `Multipart`) buffers a part's headers
//! until their blank line, with no limit: a header that never ended was held
//! whole, 192 MiB sent for +305 MiB (issue 17). [`guard`] watches the body as
//! it streams: after each boundary delimiter it counts bytes up to the blank
//! line, and past the limit ends the body with an error and sets a flag the
//! upload handler answers 413 `PAYLOAD_TOO_LARGE` by (`upload.rs`). It holds
//! no bytes of its own, only how much of a delimiter it has matched.

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The error the body ends with past the limit.
#[derive(Debug, thiserror::Error)]
#[error("a multipart part header is longer than {0} bytes")]
pub struct HeaderTooLong(pub usize);

/// A byte pattern matched across chunk boundaries (Knuth–Morris–Pratt).
struct Pattern {
    bytes: Vec<u8>,
    fail: Vec<usize>,
    matched: usize,
}

impl Pattern {
    fn new(bytes: Vec<u8>) -> Pattern {
        let mut fail = vec![0; bytes.len()];
        let mut k = 0;
        for i in 1..bytes.len() {
            while k > 0 && bytes[i] != bytes[k] {
                k = fail[k - 1];
            }
            if bytes[i] == bytes[k] {
                k += 1;
            }
            fail[i] = k;
        }
        Pattern {
            bytes,
            fail,
            matched: 0,
        }
    }

    /// Feeds one byte; true when the whole pattern has just been seen.
    fn feed(&mut self, b: u8) -> bool {
        while self.matched > 0 && b != self.bytes[self.matched] {
            self.matched = self.fail[self.matched - 1];
        }
        if b == self.bytes[self.matched] {
            self.matched += 1;
        }
        if self.matched == self.bytes.len() {
            self.matched = 0;
            return true;
        }
        false
    }
}

/// Where the scan is: in a part's data (or the preamble), looking for the
/// next delimiter; or in a header block, counting.
struct Scan {
    delimiter: Pattern,
    blank_line: Pattern,
    in_header: Option<usize>,
    limit: usize,
}

impl Scan {
    fn new(boundary: &str, limit: usize) -> Scan {
        let mut delimiter = Pattern::new(format!("\r\n--{boundary}").into_bytes());
        // The first delimiter may open the body, with no line end before it.
        delimiter.matched = 2;
        Scan {
            delimiter,
            blank_line: Pattern::new(b"\r\n\r\n".to_vec()),
            in_header: None,
            limit,
        }
    }

    /// False once a header block is longer than the limit.
    fn feed(&mut self, chunk: &[u8]) -> bool {
        let mut rest = chunk;
        while !rest.is_empty() {
            match self.in_header {
                None => {
                    // Skip to the next CR when nothing is matched: part data is
                    // most of the body.
                    if self.delimiter.matched == 0 {
                        match rest.iter().position(|&b| b == b'\r') {
                            Some(i) => rest = &rest[i..],
                            None => return true,
                        }
                    }
                    if self.delimiter.feed(rest[0]) {
                        // Counted from the line end after the delimiter, so
                        // a part with no headers is "\r\n\r\n" as well.
                        self.in_header = Some(0);
                        self.blank_line.matched = 0;
                    }
                    rest = &rest[1..];
                }
                Some(n) => {
                    // `n` counts the delimiter's line end, the block and the
                    // first three bytes of the blank line's "\r\n\r\n".
                    if n > self.limit + 5 {
                        return false;
                    }
                    self.in_header = if self.blank_line.feed(rest[0]) {
                        None
                    } else {
                        Some(n + 1)
                    };
                    rest = &rest[1..];
                }
            }
        }
        true
    }
}

/// The boundary of a `multipart/form-data` content type, if it has one.
pub fn boundary(content_type: &str) -> Option<String> {
    let (_, params) = content_type.split_once(';')?;
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// `body`, ended with [`HeaderTooLong`] (and `over` set) once a part's
/// header block (from after the delimiter's line end to before the blank
/// line's "\r\n\r\n") passes `limit` bytes.
pub fn guard(body: Body, boundary: &str, limit: usize, over: Arc<AtomicBool>) -> Body {
    let scan = Scan::new(boundary, limit);
    let chunks = body.into_data_stream();
    let stream = futures_util::stream::unfold(Some((chunks, scan)), move |st| {
        let over = over.clone();
        async move {
            let (mut chunks, mut scan) = st?;
            match chunks.next().await? {
                Ok(chunk) if !scan.feed(&chunk) => {
                    over.store(true, Ordering::Release);
                    let e = axum::Error::new(HeaderTooLong(scan.limit));
                    Some((Err(e), None))
                }
                Ok(chunk) => Some((Ok::<Bytes, _>(chunk), Some((chunks, scan)))),
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(header: &str) -> Vec<u8> {
        format!("--xyz\r\n{header}\r\n\r\ndata\r\n--xyz--\r\n").into_bytes()
    }

    #[test]
    fn a_header_at_the_limit_passes_and_one_byte_more_does_not() {
        let at = "a".repeat(100);
        assert!(Scan::new("xyz", 100).feed(&part(&at)));
        let over = "a".repeat(101);
        assert!(!Scan::new("xyz", 100).feed(&part(&over)));
    }

    #[test]
    fn chunks_split_anywhere_count_the_same() {
        let body = part(&"b".repeat(101));
        for cut in 0..body.len() {
            let mut s = Scan::new("xyz", 100);
            let ok = s.feed(&body[..cut]) && s.feed(&body[cut..]);
            assert!(!ok, "cut at {cut}");
            let mut s = Scan::new("xyz", 101);
            assert!(s.feed(&body[..cut]) && s.feed(&body[cut..]), "cut at {cut}");
        }
    }

    #[test]
    fn part_data_is_not_counted_as_a_header() {
        let mut body = b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'\r', 10_000));
        body.extend(b"\r\n--xy no\r\n--xyz\r\nX: y\r\n\r\nz\r\n--xyz--\r\n");
        assert!(Scan::new("xyz", 60).feed(&body));
    }

    #[test]
    fn the_boundary_is_read_quoted_or_not() {
        let b = |s| boundary(s);
        assert_eq!(
            b("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            b("multipart/form-data; charset=x; BOUNDARY=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(b("multipart/form-data"), None);
    }
}
