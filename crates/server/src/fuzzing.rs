//! Entry points for the cargo-fuzz targets in `fuzz/` (`scripts/fuzz`),
//! built only with the `fuzzing` feature. Each takes the fuzzer's bytes,
//! drives the same code a client's bytes reach in the server, and asserts
//! what must hold whatever those bytes are; a panic is a finding. A finding
//! becomes a regression test beside the code it is in, in the normal suite.

use crate::hub::codec::{Decoder, Incoming};
use crate::pipelines::csv_import::{self, Format, Parser};
use crate::ws::handshake::Upgrade;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::{header, Request};
use std::io::Write;
use std::path::Path;

/// The CSV pre-scan and row mapping (`pipelines/csv_import`): the file is
/// written to `dir`, scanned with a row limit, then every row mapped. The
/// first byte picks the `format` a client may force (or none).
pub fn csv_import(dir: &Path, data: &[u8]) {
    let (forced, body) = match data.split_first() {
        Some((b, rest)) => (pick_format(*b), rest),
        None => (None, data),
    };
    let path = dir.join("fuzz.csv");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(body))
        .expect("the fuzz spool is writable");
    let max_rows = 50;
    if let Ok(info) = csv_import::scan(&path, max_rows, forced) {
        assert!((1..=max_rows).contains(&info.rows), "{} rows", info.rows);
    }
    if let Ok(mut parser) = Parser::open(&path, forced) {
        let mut last = 1;
        while let Some((row, book)) = parser.next_row() {
            assert!(row > last, "row {row} after {last}");
            last = row;
            if let Ok(book) = book {
                let _ = book.dedupe_key();
            }
        }
    }
}

fn pick_format(b: u8) -> Option<Format> {
    let all = [
        "goodreads",
        "storygraph",
        "librarything",
        "openlibrary",
        "generic",
    ];
    all.get(b as usize % 8).copied().and_then(Format::parse)
}

/// The WebSocket frame decoder (`hub/codec.rs`), fed the bytes in pieces
/// cut where the fuzzer says (the first byte: piece length), with and
/// without permessage-deflate. A violation is an answer, never a panic.
pub fn ws_frames(data: &[u8]) {
    const MAX: usize = 4096;
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let piece = usize::from(cut).max(1);
    for deflate in [false, true] {
        let mut decoder = Decoder::with_deflate(MAX, deflate);
        let mut out = Vec::new();
        for chunk in rest.chunks(piece) {
            if decoder.feed(chunk, &mut out).is_err() {
                break;
            }
        }
        for msg in &out {
            match msg {
                Incoming::Text(t) => assert!(t.len() <= MAX),
                Incoming::Binary(b) => assert!(b.len() <= MAX),
                Incoming::Ping(p) => assert!(p.len() <= 125),
                Incoming::Pong | Incoming::Close(_) => {}
            }
        }
    }
}

/// The upgrade checks (`ws/handshake.rs`) on a request head as hyper
/// parses it from the wire: the bytes are the request line and headers.
pub fn handshake(data: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut head = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = head.parse(data) else {
        return;
    };
    let mut req = Request::builder()
        .method(head.method.unwrap_or("GET"))
        .uri(head.path.unwrap_or("/"));
    for h in head.headers.iter() {
        req = req.header(h.name, h.value);
    }
    let Ok(mut req) = req.body(()) else {
        return;
    };
    // What hyper puts on every request it could upgrade.
    let on_upgrade = hyper::upgrade::on(&mut req);
    req.extensions_mut().insert(on_upgrade);
    let (mut parts, ()) = req.into_parts();
    match Upgrade::check(&mut parts) {
        Ok(up) => assert!(up.subprotocol.is_none_or(|p| p.starts_with("bookstrack."))),
        Err(e) => assert!(e.status().is_client_error(), "{}", e.status()),
    }
}

/// A multipart upload as the import endpoint reads it (`http/upload.rs`,
/// `http/import.rs`): the first line of the bytes is the boundary, the rest
/// the body; `file` fields are spooled under a small limit, others read as
/// text. Every refusal is a 4xx.
pub async fn multipart(dir: &Path, data: &[u8]) {
    let Some(nl) = data.iter().position(|&b| b == b'\n') else {
        return;
    };
    let Ok(boundary) = std::str::from_utf8(&data[..nl]) else {
        return;
    };
    let Ok(req) = Request::builder()
        .method("POST")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(data[nl + 1..].to_vec()))
    else {
        return;
    };
    let mut multipart = match Multipart::from_request(req, &()).await {
        Ok(m) => m,
        Err(e) => {
            let e = crate::http::upload::rejected(e);
            assert!(e.status.is_client_error());
            return;
        }
    };
    let spool = dir.join("fuzz.upload");
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                assert!(crate::http::upload::bad_multipart(e)
                    .status
                    .is_client_error());
                break;
            }
        };
        let outcome = if field.name() == Some("file") {
            crate::http::upload::spool(field, &spool, 1024, "the upload", |_| Ok(()))
                .await
                .map(|size| assert!(size <= 1024))
        } else {
            field
                .text()
                .await
                .map(drop)
                .map_err(crate::http::upload::bad_multipart)
        };
        if let Err(e) = outcome {
            assert!(e.status.is_client_error(), "{}: {}", e.status, e.message);
            break;
        }
    }
}
