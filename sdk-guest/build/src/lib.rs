//! `keyway-sdk-build`: a connector's build script helper. [`generate`] reads the
//! `permissions.connections` of the `connector.json` beside the crate's `Cargo.toml` and
//! writes `$OUT_DIR/keyway_connections.rs`, one `AppConnection` constant per granted name,
//! which `keyway_sdk::app_connections!()` includes as `pub mod connections`. A name
//! misspelt in a route, or dropped from the manifest, then fails to compile.
//!
//! The connector's `build.rs`, with `keyway-sdk-build` in `[build-dependencies]`:
//!
//! ```text
//! fn main() {
//!     keyway_sdk_build::generate();
//! }
//! ```
//!
//! This module owns the build-script entry points and their file handling. It must not
//! judge the manifest beyond what the constants need (the host validates the whole of it
//! when it loads the connector), and must not write anywhere but `OUT_DIR`.

mod error;
mod manifest;
mod names;
mod render;

use std::path::{Path, PathBuf};

pub use error::GenerateError;
pub use manifest::{Grant, read_grants};
pub use names::{NAME_RULE, constant_name, is_app_connection_name};
pub use render::render;

/// The file [`generate`] writes into `OUT_DIR`; `app_connections!()` includes it.
pub const GENERATED_FILE: &str = "keyway_connections.rs";

/// The manifest file read, beside the crate's `Cargo.toml`.
pub const MANIFEST_FILE: &str = "connector.json";

/// Generates the constants for the crate being built: reads `connector.json` in
/// `CARGO_MANIFEST_DIR`, writes [`GENERATED_FILE`] into `OUT_DIR`, and asks cargo to run
/// the build script again when the manifest changes. On any problem it fails the build
/// with a message naming the file and what is wrong.
pub fn generate() {
    println!("cargo:rerun-if-changed={MANIFEST_FILE}");
    let result = build_dirs()
        .and_then(|(crate_dir, out_dir)| generate_into(&crate_dir.join(MANIFEST_FILE), &out_dir));
    if let Err(e) = result {
        // Cargo shows a failed build script's stderr; one line per problem reads best.
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Reads `manifest` and writes the constants to `out_dir`/[`GENERATED_FILE`]; answers
/// the path written. The file is rewritten only when its text changes, so an unchanged
/// manifest recompiles nothing.
pub fn generate_into(manifest: &Path, out_dir: &Path) -> Result<PathBuf, GenerateError> {
    let text = std::fs::read_to_string(manifest).map_err(|source| GenerateError::Read {
        file: manifest.to_path_buf(),
        source,
    })?;
    let grants = read_grants(&text, manifest)?;
    let code = render(&grants, manifest)?;
    let target = out_dir.join(GENERATED_FILE);
    if std::fs::read_to_string(&target).ok().as_deref() != Some(code.as_str()) {
        std::fs::write(&target, code).map_err(|source| GenerateError::Write {
            file: target.clone(),
            source,
        })?;
    }
    Ok(target)
}

/// The crate directory and `OUT_DIR` cargo gives a build script.
fn build_dirs() -> Result<(PathBuf, PathBuf), GenerateError> {
    let var = |name: &'static str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .ok_or(GenerateError::NotInBuildScript { variable: name })
    };
    Ok((var("CARGO_MANIFEST_DIR")?, var("OUT_DIR")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_constants_beside_nothing_but_out_dir() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join(MANIFEST_FILE);
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(
            &manifest,
            r#"{ "permissions": { "connections": { "google-oauth": ["token"] } } }"#,
        )
        .unwrap();
        let written = generate_into(&manifest, &out).unwrap();
        assert_eq!(written, out.join(GENERATED_FILE));
        let code = std::fs::read_to_string(&written).unwrap();
        assert!(code.contains("pub const GOOGLE_OAUTH"), "{code}");
        let mut entries: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        entries.sort();
        assert_eq!(entries, vec!["connector.json", "out"]);
    }

    #[test]
    fn a_missing_manifest_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join(MANIFEST_FILE);
        let err = generate_into(&manifest, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&manifest.display().to_string()), "{err}");
        assert!(
            err.contains("could not read the connector manifest"),
            "{err}"
        );
    }
}
