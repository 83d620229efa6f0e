//! The host side of each `keyway:connector` interface, one file per interface. Every
//! door checks the manifest's grants (carried by the invocation's context) before it
//! acts, answers what a connector can act on with a WIT `error`, and traps only on host
//! bugs and exceeded hard limits.

mod http;
mod ingest;
mod log;
mod oauth;
mod secrets;
mod settings;
mod state;

use crate::runtime::{HostState, wit_types};

pub(crate) use wit_types::{Error as WitError, ErrorCode};

impl wit_types::Host for HostState {}

/// A guest-visible error.
pub(crate) fn wit_error(code: ErrorCode, message: impl Into<String>) -> WitError {
    WitError {
        code,
        message: message.into(),
    }
}
