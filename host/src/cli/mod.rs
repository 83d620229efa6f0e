//! The `keyway` command line: argument types and one `run` per command. `main.rs` only
//! parses and dispatches. Secrets never come from argv: commands read them from stdin or
//! a named environment variable.

pub mod call;
pub mod connectors;
pub mod settings_args;
pub mod validate;
