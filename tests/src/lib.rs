//! Shared pieces of the workspace-level tests: the paths of the components the build
//! script compiled, and the paths of the example connectors' directories.

use std::path::PathBuf;

/// Paths of compiled components, one `&str` constant per package (see `build.rs`).
pub mod components {
    include!(concat!(env!("OUT_DIR"), "/components.rs"));
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The directory of the example connector `name` (`connectors/<name>`).
pub fn connector_dir(name: &str) -> PathBuf {
    workspace_root().join("connectors").join(name)
}

pub mod artifacts;
pub mod logs;
pub mod oidc;

/// A runtime configuration for tests: the defaults, with the compiled-component cache in
/// the build directory of this crate so each component is compiled once per build, not
/// once per test.
pub fn test_runtime_config() -> keyway_host::runtime::RuntimeConfig {
    keyway_host::runtime::RuntimeConfig {
        cache_dir: Some(PathBuf::from(concat!(env!("OUT_DIR"), "/component-cache"))),
        ..Default::default()
    }
}
pub mod provider;
pub mod server;

/// The `keyway` binary of this build (built on demand when a test runs alone).
pub fn keyway_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/<profile>/keyway
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let bin = profile_dir.join(format!("keyway{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let status = std::process::Command::new(cargo)
            .current_dir(workspace_root())
            .args(["build", "-p", "keyway-host", "--bin", "keyway"])
            .status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "building the keyway binary failed"
        );
    }
    bin
}
