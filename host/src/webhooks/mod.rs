//! Webhooks: provider events delivered to the host, verified before anything else sees
//! them.
//!
//! Owns: signature schemes and their checks (`verify.rs`).
//! Must not: store deliveries or run routes (the use cases do), or put a secret, a
//! signature or body text in an error.

pub mod verify;

pub use verify::{Encoding, Rule, Scheme, Verified, VerifyError, sign, verify};
