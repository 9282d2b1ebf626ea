//! The socket fan-out: a job's events framed once (`Frame`), written
//! straight to each viewer's socket (`Viewer`), and the sockets driven by
//! the one task that owns the job (`Sockets`), over our own RFC 6455 codec
//! (`codec`).
//!
//! It knows sockets, frames and the protocol crate's messages, nothing of
//! jobs, storage or HTTP: `job` drives a job's `Sockets`, `ws` hands them
//! the upgraded streams. What it needs from the server's configuration
//! comes in as a `Timing`; what it counts goes into `HubMetrics`, which
//! `crate::metrics` registers.

pub mod codec;
mod conn;
pub mod deflate;
mod driver;
mod frame;
mod metrics;
mod relay;
mod slots;
mod solo;
mod viewer;

pub use codec::{CloseCode, Incoming};
pub use conn::CLOSE_UNREAD_REASON;
pub use driver::{Connection, Sockets, Timing, CLOSE_GRACE};
pub use frame::{Frame, FrameKind, Protocol, Wire};
pub use metrics::{HubMetrics, LatencyHistogram};
pub use relay::{relay, RelayRx, RelayTx};
pub use slots::{Slot, SlotRefused, Slots};
pub use solo::{Solo, SoloEvent};
pub use viewer::{Flushed, Viewer};

/// Where a client's `ack` of a job's seq goes (`job::Acks` keeps them):
/// called from the task that drives the socket, so it must not wait.
pub trait AckSink: Send + Sync {
    fn ack(&self, job_id: &str, seq: u64);
}

/// The close a viewer gets once its job has sent everything.
pub const CLOSE_NORMAL: CloseCode = CloseCode::Normal;
/// The close every viewer gets when the server shuts down, and a socket
/// that stopped answering pings (`ping timeout`).
pub const CLOSE_GOING_AWAY: CloseCode = CloseCode::Away;
/// The close of a socket whose token expired while it was open.
pub const CLOSE_TOKEN_EXPIRED: CloseCode =
    CloseCode::Library(bookstrack_protocol::CLOSE_TOKEN_EXPIRED);
