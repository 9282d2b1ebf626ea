//! `bookstrack scan` through the binary: photos uploaded, progress shown,
//! a summary of the books found.

use crate::support::*;

#[test]
fn scan_command_uploads_photos_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let srv = ServerProc::start(BOOKSTRACK, &dir.path().join("data"), 0, &[]);
    let photo = dir.path().join("shelf.png");
    image::DynamicImage::new_rgb8(64, 48).save(&photo).unwrap();
    let other = dir.path().join("shelf2.png");
    std::fs::copy(&photo, &other).unwrap();
    let out = std::process::Command::new(BOOKSTRACK)
        .arg("scan")
        .arg(&photo)
        .arg(&other)
        .args(["--server", &srv.url])
        .env("BOOKSTRACK_TOKEN_DIR", dir.path().join("tokens"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Analysing photo 2 of 2"), "{stdout}");
    assert!(
        stdout.contains("books found: 0"),
        "a blank photo shows no book: {stdout}"
    );
    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "not a photo").unwrap();
    let out = std::process::Command::new(BOOKSTRACK)
        .arg("scan")
        .arg(&txt)
        .args(["--server", &srv.url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNSUPPORTED_MEDIA_TYPE"));
}
