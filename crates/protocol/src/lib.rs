//! Wire types of the BooksTrack progress service.
//!
//! This crate is shared by the server, the Rust SDK and the CLI so that every
//! party serialises the same shapes; it deliberately depends on nothing async.
//! The shapes follow SPEC §2–§3, which the Swift client in the seeds decodes.

mod api;
mod envelope;
mod error_code;
mod job;
mod legacy;

pub use api::{
    ApiError, ApiFailure, ApiSuccess, JobStarted, Meta, RefreshRequest, RefreshResponse, RowError,
};
pub use envelope::{ClientMessage, Envelope, MessageFactory, MessageType, Payload, ProgressUpdate};
pub use error_code::ErrorCode;
pub use job::{JobState, JobStatus, Pipeline};
pub use legacy::{V1Data, V1Message};

/// The envelope `version` field. The seeds' Swift decoders require it.
pub const PROTOCOL_VERSION: &str = "1.0.0";
