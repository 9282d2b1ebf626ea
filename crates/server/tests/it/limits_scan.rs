//! The shelf scan's limits of issue 17: pixels refused from the header
//! before any decoding, and Tesseract stopped at its deadline.

use super::scan::{png, upload};
use crate::common::*;
use bookstrack_server::pipelines::ai_scan::{ocr, read_photo};
use bookstrack_testkit::shelf::{classic, SHELF};
use image::DynamicImage;
use std::time::{Duration, Instant};

/// CRC-32 (IEEE), as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A real 1×1 PNG whose header then claims `w`×`h`: its few pixel bytes
/// cannot decode as that, so only a check of the header refuses it first.
fn lying_png(w: u32, h: u32) -> Vec<u8> {
    let mut p = png(&DynamicImage::new_rgb8(1, 1));
    // Signature (8), IHDR length (4), "IHDR" (4), then width and height.
    p[16..20].copy_from_slice(&w.to_be_bytes());
    p[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&p[12..29]);
    p[29..33].copy_from_slice(&crc.to_be_bytes());
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photo_pixels_are_refused_from_the_header_before_decoding() {
    let srv = TestServer::start(|c| c.scan.max_photo_pixels = 100 * 100).await;
    let (s, v) = upload(
        &srv,
        "/api/scan-bookshelf",
        "image",
        vec![png(&DynamicImage::new_rgb8(100, 100))],
    )
    .await;
    assert_eq!(s, 202, "at the limit: {v}");
    let (s, v) = upload(
        &srv,
        "/api/scan-bookshelf",
        "image",
        vec![png(&DynamicImage::new_rgb8(101, 100))],
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("101×100"),
        "{v}"
    );
    // 30,000 × 30,000 claimed in 70 bytes: 413 from the header, where a
    // decode would have failed (400) or, for a real one, held 2.5 GiB.
    let (s, v) = upload(
        &srv,
        "/api/scan-bookshelf",
        "image",
        vec![lying_png(30_000, 30_000)],
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{v}"
    );
    // The same lie within the limit is decoded, and refused as corrupt.
    let (s, v) = upload(
        &srv,
        "/api/scan-bookshelf",
        "image",
        vec![lying_png(50, 50)],
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("AI_SCAN_ERROR")),
        "{v}"
    );
    srv.stop().await;
}

#[cfg(unix)]
#[test]
fn tesseract_is_killed_at_its_deadline_and_the_books_fail() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A Tesseract that never answers (`exec`: one process, as the real one).
    let fake = dir.path().join("tesseract");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 60\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let photo = dir.path().join("shelf.png");
    classic(&SHELF[..3]).save(&photo).unwrap();
    let mut ocr = ocr::Ocr::new(&fake);
    ocr.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = read_photo(&ocr, &photo, "image/png", &[], &dir.path().join("scratch"))
        .expect_err("no reading");
    assert!(err.contains("did not finish within 1 s"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "killed, not waited for"
    );
}
