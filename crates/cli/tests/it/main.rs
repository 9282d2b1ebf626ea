//! The `bookstrack` binary's integration tests, in one binary so the suite
//! links the server once rather than once per file. The helpers they share
//! come from `crates/testkit`.

mod support {
    pub use bookstrack_testkit::*;

    /// The binary under test.
    pub const BOOKSTRACK: &str = env!("CARGO_BIN_EXE_bookstrack");

    fn unimportable(row: usize) -> bool {
        row % 97 == 96
    }

    /// A Goodreads export of `rows` rows; every 97th has no title (a row error).
    pub fn goodreads_csv(rows: usize) -> Vec<u8> {
        goodreads::export(rows, unimportable).into_bytes()
    }

    pub fn expected_failures(rows: usize) -> usize {
        (0..rows).filter(|r| unimportable(*r)).count()
    }
}

mod allocator;
mod catalog;
mod durability;
mod import_enrich;
mod limits;
mod publish;
mod samples;
mod scan;
mod watch_many;
mod web;
