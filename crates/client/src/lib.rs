//! Rust SDK for the BooksTrack progress service: start a job, then read its
//! events as a typed stream that survives dropped connections (reconnect
//! with backoff, resume by `lastSeq`, resync over HTTP), refreshes its
//! token before it expires, and can be cancelled at any time. A worker
//! whose job runs elsewhere publishes its progress with a [`Publisher`].

mod control;
mod error;
mod http;
mod inflate;
mod mux;
mod policy;
mod publisher;
mod stream;
mod tokens;
mod wire;

pub use control::StreamControl;
pub use error::ClientError;
pub use http::{Client, API_KEY_ENV, JOB_TOKENS_HEADER};
pub use mux::{MuxEvent, MuxStream};
pub use policy::{ReconnectPolicy, ResyncPolicy};
pub use publisher::{PublishPolicy, Publisher};
pub use stream::{CancelHandle, JobStream, StreamOptions};
pub use tokens::{FileTokenStore, MemoryTokenStore, StoredToken, TokenStore};
pub use wire::Encoding;
