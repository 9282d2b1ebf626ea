//! The CSV pre-scan and row mapping (`bookstrack_server::fuzzing::csv_import`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"));
    bookstrack_server::fuzzing::csv_import(dir.path(), data);
});
