//! The server's integration tests, in one binary so the suite links the
//! server once rather than once per file. Each module is one area; the
//! helpers they share come from `crates/testkit`. `tests/logs.rs` is the
//! one binary of its own: it installs a process-wide subscriber at TRACE,
//! which would slow every test sharing its process.

mod common {
    pub use bookstrack_testkit::goodreads::{goodreads_csv, isbn13, HEADER as GOODREADS_HEADER};
    pub use bookstrack_testkit::*;
}

mod access;
mod contract;
mod csv_limits;
mod deflate;
mod enrichment;
mod flow;
mod formats;
mod interop;
mod isolation;
mod limits;
mod limits_scan;
mod mux;
mod properties;
mod publish;
mod publish_limits;
mod resume;
mod scan;
mod scan_uploads;
mod store_contract;
#[cfg(feature = "redis")]
mod store_redis;
mod synthetic;
mod timers;
mod ws_limits;
mod ws_rules;
mod ws_wire;
