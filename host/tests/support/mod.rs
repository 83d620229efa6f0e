//! Shared helpers for the host integration tests.

pub mod oidc;
