//! Rust SDK for the BooksTrack progress service: start a job, then read its
//! events as a typed stream that survives dropped connections (reconnect
//! with backoff, resume by `lastSeq`, resync over HTTP), refreshes its
//! token before it expires, and can be cancelled at any time. A worker
//! whose job runs elsewhere publishes its progress with a [`Publisher`].

mod error;
mod http;
mod policy;
mod publisher;
mod stream;
mod tokens;

pub use error::ClientError;
pub use http::Client;
pub use policy::{ReconnectPolicy, ResyncPolicy};
pub use publisher::{PublishPolicy, Publisher};
pub use stream::{CancelHandle, JobStream, StreamOptions};
pub use tokens::{FileTokenStore, MemoryTokenStore, StoredToken, TokenStore};
