//! The BooksTrack progress server: long jobs (library imports, enrichment,
//! shelf scans) run under one owner each and push their progress to
//! WebSocket viewers, with every event logged for gap-free resume.

pub mod access;
pub mod api_error;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod http;
pub mod hub;
pub mod job;
pub mod metrics;
pub mod openapi;
pub mod pipelines;
pub mod private_fs;
pub mod routes;
pub mod secret;
pub mod server;
pub mod store;
pub mod token;
pub mod ws;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use app::{App, AppError, Started};
pub use config::Config;
pub use server::{ServeError, Server, Shutdown};
