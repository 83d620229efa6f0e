//! Why the constants could not be generated. Every message names the manifest file and
//! what is wrong in it, since it ends the connector's build.
//!
//! This module owns the error type only; it must not print or exit (`generate` does).

use std::path::PathBuf;

/// A reason `generate` fails the build.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Called outside a build script (no `CARGO_MANIFEST_DIR` or `OUT_DIR`).
    #[error(
        "keyway_sdk_build::generate() must run in a build script (`{variable}` is not set); call it from build.rs"
    )]
    NotInBuildScript { variable: &'static str },
    #[error("{}: could not read the connector manifest: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: could not write the generated constants: {source}", file.display())]
    Write {
        file: PathBuf,
        source: std::io::Error,
    },
    /// The manifest is not JSON, or `permissions.connections` is not shaped as the host
    /// reads it.
    #[error("{}: {problem}", file.display())]
    Manifest { file: PathBuf, problem: String },
    /// A granted name the host would refuse.
    #[error("{}: permissions.connections: app connection name {name:?} must be {rule}", file.display())]
    Name {
        file: PathBuf,
        name: String,
        rule: &'static str,
    },
    /// Two granted names that would make the same constant.
    #[error(
        "{}: permissions.connections: {first:?} and {second:?} would both be the constant {constant}; rename one of them",
        file.display()
    )]
    Collision {
        file: PathBuf,
        first: String,
        second: String,
        constant: String,
    },
}
