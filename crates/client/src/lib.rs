//! Rust SDK for the BooksTrack progress service: start a job, then read its
//! events as a typed stream that survives dropped connections by resuming
//! from the last `seq` it delivered.

mod error;
mod events;
mod http;

pub use error::ClientError;
pub use events::{EventStream, ReconnectPolicy};
pub use http::Client;
