//! Time to read one shelf photo with the `ocr` provider (books located,
//! then each read by Tesseract on every core), beside one plain
//! `tesseract --psm 3` pass over the same photo: the first test picture
//! and a varied one of 1800 × 1100 (`bookstrack_testkit::shelf`).
//! `cargo bench -p bookstrack-server --bench ocr`; the fuller measure of
//! what is read is `bookstrack-bench shelves` (BENCHMARKS.md).

use bookstrack_server::pipelines::ai_scan::{ocr::Ocr, read_photo};
use bookstrack_testkit::shelf::{classic, varied_sized, SHELF};
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::Path;
use std::time::Duration;

fn plain(photo: &Path) {
    let out = std::process::Command::new("tesseract")
        .arg(photo)
        .arg("stdout")
        .args(["--psm", "3"])
        .output()
        .unwrap();
    assert!(out.status.success());
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("shelf.png");
    classic(&SHELF).save(&first).unwrap();
    let other = dir.path().join("varied.jpg");
    std::fs::write(&other, varied_sized(1001, 1800, 1100).encoded).unwrap();
    let ocr = Ocr::new("tesseract");
    let mut g = c.benchmark_group("ai_scan");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    for (name, photo, mime) in [
        ("first 1800x1400", &first, "image/png"),
        ("varied 1800x1100", &other, "image/jpeg"),
    ] {
        g.bench_function(format!("plain tesseract pass, {name} (baseline)"), |b| {
            b.iter(|| plain(photo));
        });
        g.bench_function(format!("ocr scan, {name}"), |b| {
            b.iter(|| read_photo(&ocr, photo, mime, &[], &dir.path().join("scratch")).unwrap());
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
