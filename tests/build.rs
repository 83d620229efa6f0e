//! Builds the example connectors and the test components to `wasm32-wasip2` components,
//! so `cargo test` on a fresh clone needs nothing run first. The nested cargo gets its own
//! target directory under `OUT_DIR` (sharing the outer one would wait on its lock) and
//! none of the outer build's flags (they are for the host, not for wasm).
//!
//! It writes `components.rs`: one `pub const NAME: &str` path per built component.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Workspace packages built for the tests: (package, const name).
const COMPONENTS: &[(&str, &str)] = &[
    ("hello", "HELLO"),
    ("misbehave", "MISBEHAVE"),
    ("not-a-connector", "NOT_A_CONNECTOR"),
    ("hostile", "HOSTILE"),
    ("ingester", "INGESTER"),
    ("sandbox", "SANDBOX"),
    ("http-hello", "HTTP_HELLO"),
    ("pager", "PAGER"),
    ("two-apps", "TWO_APPS"),
    ("token-hooks", "TOKEN_HOOKS"),
];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = out_dir.join("wasm-target");

    for dir in [
        "wit",
        "sdk-guest",
        "connectors",
        "tests/components",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--profile",
            "component",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(workspace.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir);
    for (package, _) in COMPONENTS {
        cmd.args(["-p", package]);
    }
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("could not start cargo to build the wasm components");
    assert!(
        status.success(),
        "building the wasm components failed (is the wasm32-wasip2 target installed? run `rustup target add wasm32-wasip2`)"
    );

    let mut consts = String::new();
    for (package, name) in COMPONENTS {
        let file = artifact(&target_dir, package);
        assert!(
            file.exists(),
            "expected component {} after the build",
            file.display()
        );
        writeln!(
            consts,
            "pub const {name}: &str = {:?};",
            file.display().to_string()
        )
        .expect("writing to a String");
    }
    std::fs::write(out_dir.join("components.rs"), consts).expect("writing components.rs");
}

fn artifact(target_dir: &Path, package: &str) -> PathBuf {
    target_dir
        .join("wasm32-wasip2/component")
        .join(format!("{}.wasm", package.replace('-', "_")))
}
