//! Parse + normalise against the csv crate's raw read of the same file.
//! `cargo bench -p bookstrack-server --bench csv_import`

use bookstrack_server::pipelines::csv_import::Parser;
use bookstrack_testkit::goodreads;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const ROWS: u64 = 20_000;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("goodreads_library_export.csv");
    goodreads::write_goodreads(
        std::io::BufWriter::new(std::fs::File::create(&path).unwrap()),
        ROWS,
    )
    .unwrap();
    let mut g = c.benchmark_group("csv_import");
    g.throughput(Throughput::Elements(ROWS));
    g.bench_function("raw csv read (baseline)", |b| {
        b.iter(|| {
            let mut r = csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(&path)
                .unwrap();
            let mut rec = csv::ByteRecord::new();
            let mut n = 0u64;
            while r.read_byte_record(&mut rec).unwrap() {
                n += rec.len() as u64;
            }
            black_box(n)
        });
    });
    g.bench_function("parse + normalise", |b| {
        b.iter(|| {
            let mut p = Parser::open(&path, None).unwrap();
            let mut ok = 0u64;
            while let Some((_, book)) = p.next_row() {
                ok += book.is_ok() as u64;
            }
            assert_eq!(ok, ROWS);
            black_box(ok)
        });
    });
    g.bench_function("parse + normalise + serialise", |b| {
        b.iter(|| {
            let mut p = Parser::open(&path, None).unwrap();
            let mut bytes = 0usize;
            while let Some((_, book)) = p.next_row() {
                bytes += serde_json::to_string(&book.unwrap()).unwrap().len();
            }
            black_box(bytes)
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
