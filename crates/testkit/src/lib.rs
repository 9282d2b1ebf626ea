//! Test support shared by the crates of this workspace, so that each
//! fixture and launcher exists once:
//! - [`TestServer`]: the server library on port 0 in this process, for
//!   tests that look inside (`App`) or tweak its `Config`;
//! - [`ServerProc`]: a real `bookstrack serve` process, for tests that
//!   kill it or run the command-line binary against it;
//! - viewers: [`connect`], [`next_event`], [`next_json`] and the rest of
//!   `ws.rs`; the HTTP API by URL in `api.rs`;
//! - [`Proxy`]: a TCP proxy that cuts connections, a flaky network;
//! - [`Worker`]: the example publisher in Python (`examples/publisher`);
//! - [`goodreads`]: Goodreads exports of any size, for tests and benches;
//! - [`shelf`]: shelf photos, one drawn picture and a varied generator.

mod api;
pub mod goodreads;
mod mux;
mod proc;
mod proxy;
mod redis;
mod server;
pub mod shelf;
mod worker;
mod ws;

pub use api::{get, http, post_json, synthetic_jobs, upload};
pub use mux::MuxClient;
pub use proc::ServerProc;
pub use proxy::Proxy;
pub use redis::{redis_server, RedisProc};
pub use server::TestServer;
pub use worker::Worker;
pub use ws::*;

/// Installs rustls' ring provider for this process, once.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
