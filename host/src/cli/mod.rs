//! The `keyway` command line: one file per command group, each with clap types and a `run`.
//!
//! Owns: argument parsing and terminal output.
//! Must not: hold business logic that tests cannot reach through the library.

pub mod connections;
pub mod credentials;
pub mod keys;
