//! Who may make the server do work, and how much (issue 17): the optional
//! operator credentials (`credential.rs`; applied by `http/admitted.rs`), the job quotas every
//! job-creating endpoint passes (`admission.rs`), and the job tokens a
//! request presents to reach earlier jobs' data (`presented.rs`).

pub mod admission;
pub mod credential;
pub mod presented;

pub use admission::{Admission, AdmissionLimits, Refused, Slot};
pub use credential::Secret;
pub use presented::{presented_jobs, JOB_TOKENS_HEADER};
