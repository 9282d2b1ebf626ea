//! Time to read one shelf photo with the `ocr` provider (Tesseract, six
//! passes: grey and inverted, upright and turned both ways).
//! `cargo bench -p bookstrack-server --bench ocr`

#[path = "../tests/it/shelf.rs"]
mod shelf;

use bookstrack_server::pipelines::ai_scan::ocr::Ocr;
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("shelf.png");
    shelf::shelf(&shelf::SHELF).save(&photo).unwrap();
    let ocr = Ocr {
        binary: "tesseract".into(),
    };
    let mut g = c.benchmark_group("ai_scan");
    g.sample_size(10).measurement_time(Duration::from_secs(40));
    g.bench_function("one plain tesseract pass (baseline)", |b| {
        b.iter(|| {
            let out = std::process::Command::new("tesseract")
                .arg(&photo)
                .arg("stdout")
                .args(["--psm", "11"])
                .output()
                .unwrap();
            assert!(out.status.success());
        });
    });
    g.bench_function("ocr one 1800x1400 shelf photo", |b| {
        b.iter(|| ocr.read(&photo, dir.path()).unwrap());
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
