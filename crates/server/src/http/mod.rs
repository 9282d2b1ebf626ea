//! The HTTP API's handlers (`docs/PROTOCOL.md` §4) and the web page
//! (`page.rs`); `routes.rs` mounts them. Token checks are in `auth.rs`,
//! error answers in `api_error.rs`.

pub(crate) mod admitted;
pub(crate) mod body_idle;
pub(crate) mod enrichment;
pub(crate) mod import;
pub(crate) mod jobs;
pub(crate) mod page;
mod part_headers;
pub(crate) mod publish;
pub(crate) mod results;
pub(crate) mod scan;
pub mod synthetic;
pub(crate) mod token;
pub(crate) mod upload;
