//! Wire types of the BooksTrack progress service.
//!
//! This crate is shared by the server, the Rust SDK and the CLI so that every
//! party serialises the same shapes; it deliberately depends on nothing async.
//! The shapes are those of docs/PROTOCOL.md, which the iOS (Swift) client decodes.

mod api;
mod envelope;
mod error_code;
mod job;
mod legacy;
pub mod mux;
pub mod publish;

pub use api::{
    ApiError, ApiFailure, ApiSuccess, JobStarted, Meta, RefreshRequest, RefreshResponse, RowError,
};
pub use envelope::{ClientMessage, Envelope, MessageFactory, MessageType, Payload, ProgressUpdate};
pub use error_code::ErrorCode;
pub use job::{JobState, JobStatus, Pipeline};
pub use legacy::{V1Data, V1Message};

/// The envelope `version` field. The iOS client's decoders require it (docs/PROTOCOL.md §7).
pub const PROTOCOL_VERSION: &str = "1.0.0";

/// The close code of a `/ws/progress` socket whose token expired while it
/// was open (docs/PROTOCOL.md §14, §15): refresh the token, or take the one
/// already refreshed, and reconnect at once from `lastSeq`.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// The largest count a client may send (`totalCount`, `totalBooks`,
/// `booksProcessed`, `steps`, ...): every count on the wire fits a signed
/// 64-bit integer, which is what the iOS client's `Int` decodes and what
/// docs/openapi.json says (`int64`). Larger ones are refused with 400.
pub const MAX_COUNT: u64 = i64::MAX as u64;
