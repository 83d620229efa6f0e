//! `keyway-host`: the Keyway connector runtime host.
//!
//! The library owns everything the `keyway` binary does, so tests and embedders drive the
//! same code: the sandbox that runs connector components ([`runtime`]), the host side of
//! each WIT interface ([`imports`]), what one invocation may see ([`context`]), manifests
//! ([`manifest`]), outbound HTTP ([`egress`]), OAuth custody ([`oauth`], [`store`]), the
//! shared vocabulary ([`types`]) and the command line ([`cli`]). See `ARCHITECTURE.md` for
//! the map and the invariants; `tests/layers.rs` enforces which module may import which.

pub mod cli;
pub mod context;
pub mod custody;
pub mod egress;
pub mod imports;
pub mod ingest;
pub mod manifest;
pub mod oauth;
pub mod redact;
pub mod registry;
pub mod runtime;
pub mod sandbox;
pub mod server;
pub mod services;
pub mod store;
pub mod types;
