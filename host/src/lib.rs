//! `keyway-host`: the Keyway connector runtime host.
//!
//! The library owns everything the `keyway` binary does, so tests and embedders drive the
//! same code: the sandbox that runs connector components ([`runtime`]), the host side of
//! each WIT interface ([`imports`]), what one invocation may see ([`context`]), manifests
//! ([`manifest`]), the connectors served ([`catalog`]), outbound HTTP ([`egress`]), OAuth
//! custody ([`oauth`], [`custody`], [`store`]), the use cases ([`services`]), the shared
//! vocabulary ([`types`]) and the two edges: the command line ([`cli`]) and the HTTP
//! server ([`server`]). See `ARCHITECTURE.md` for the map and the invariants;
//! `tests/layers.rs` enforces which module may import which.

pub mod catalog;
pub mod cli;
pub mod context;
pub mod custody;
pub mod devprovider;
pub mod egress;
pub mod imports;
pub mod ingest;
pub mod manifest;
pub mod oauth;
pub mod providers;
pub mod redact;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod services;
pub mod store;
pub mod streams;
pub mod types;
pub mod webhooks;
