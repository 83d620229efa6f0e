//! The `keyway` command line: one file per command group, each with clap types and a
//! `run`; `main.rs` only parses and dispatches. Secrets never come from argv: commands
//! read them from stdin or a named environment variable.
//!
//! Must not: hold logic that tests cannot reach through the library.

pub mod api_keys;
pub mod call;
pub mod connections;
pub mod connectors;
pub mod credentials;
pub mod keys;
pub mod records;
pub mod serve;
pub mod settings_args;
pub mod validate;
