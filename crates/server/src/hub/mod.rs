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
mod driver;
mod frame;
mod metrics;
mod viewer;

pub use codec::CloseCode;
pub use driver::{Connection, Sockets, Timing, CLOSE_GRACE};
pub use frame::{Frame, FrameKind, Protocol};
pub use metrics::{HubMetrics, LatencyHistogram};
pub use viewer::{Flushed, Viewer};

/// The close a viewer gets once its job has sent everything.
pub const CLOSE_NORMAL: CloseCode = CloseCode::Normal;
/// The close every viewer gets when the server shuts down.
pub const CLOSE_GOING_AWAY: CloseCode = CloseCode::Away;
