//! The SDK's integration tests, in one binary so the suite links the
//! server once rather than once per file.

mod expiry;
mod mux;
mod publisher;
mod resilience;
mod resync;
