//! Compiling a connector crate to its component: `cargo metadata` names the package, its
//! cdylib target and the workspace's target directory, then a nested
//! `cargo build --profile component --target wasm32-wasip2` writes the component into
//! `<target dir>/keyway-testing` (the outer `cargo test` holds the lock on the target
//! directory itself, so sharing it would wait forever).
//!
//! This module owns running cargo and finding its output. It must not load or run the
//! component, and must not pass the outer build's host flags on to the wasm build.

use crate::Error;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A connector crate compiled to a component.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub package: String,
    pub wasm: PathBuf,
    /// The nested build's target directory (also home of the compiled-component cache).
    pub target_dir: PathBuf,
}

/// Variables of the outer build that must not reach the nested wasm build.
const HOST_BUILD_VARS: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_MAKEFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_LLVM_COV",
    "LLVM_PROFILE_FILE",
];

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()));
    for var in HOST_BUILD_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// What `cargo metadata` says about the crate in `dir`.
struct CrateInfo {
    package: String,
    lib_name: String,
    target_dir: PathBuf,
}

fn crate_info(dir: &Path) -> Result<CrateInfo, Error> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(Error::Crate(format!(
            "{}: no Cargo.toml; TestRuntime::builder takes the connector crate's directory \
             (env!(\"CARGO_MANIFEST_DIR\"))",
            dir.display()
        )));
    }
    let out = cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .map_err(|e| Error::Crate(format!("could not run `cargo metadata`: {e}")))?;
    if !out.status.success() {
        return Err(Error::Crate(format!(
            "`cargo metadata` for {} failed:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let meta: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::Crate(format!("`cargo metadata` printed no JSON: {e}")))?;
    let target_dir = meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| Error::Crate("`cargo metadata` names no target directory".into()))?;
    let wanted = manifest.canonicalize().unwrap_or_else(|_| manifest.clone());
    let package = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["manifest_path"]
                .as_str()
                .and_then(|m| Path::new(m).canonicalize().ok())
                .is_some_and(|m| m == wanted)
        })
        .ok_or_else(|| {
            Error::Crate(format!(
                "{}: `cargo metadata` lists no package for this manifest",
                manifest.display()
            ))
        })?;
    let name = package["name"].as_str().unwrap_or_default().to_string();
    let lib_name = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| {
            t["crate_types"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "cdylib"))
        })
        .and_then(|t| t["name"].as_str())
        .map(|n| n.replace('-', "_"))
        .ok_or_else(|| {
            Error::Crate(format!(
                "package `{name}` has no cdylib target; a connector needs \
                 `[lib] crate-type = [\"cdylib\"]`"
            ))
        })?;
    Ok(CrateInfo {
        package: name,
        lib_name,
        target_dir,
    })
}

/// Builds the crate in `dir` to a component and returns where it is.
pub(crate) fn compile(dir: &Path) -> Result<Compiled, Error> {
    let info = crate_info(dir)?;
    let target_dir = info.target_dir.join("keyway-testing");
    let out = cargo()
        .args([
            "build",
            "--quiet",
            "--profile",
            "component",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .args(["-p", &info.package])
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .map_err(|e| {
            Error::Crate(format!(
                "could not run cargo to build `{}`: {e}",
                info.package
            ))
        })?;
    if !out.status.success() {
        let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
        if output.contains("wasm32-wasip2") && output.contains("target may not be installed") {
            output.push_str("\n(install the target with `rustup target add wasm32-wasip2`)");
        }
        return Err(Error::Build {
            package: info.package,
            output,
        });
    }
    let wasm = target_dir
        .join("wasm32-wasip2")
        .join("component")
        .join(format!("{}.wasm", info.lib_name));
    if !wasm.is_file() {
        return Err(Error::Build {
            package: info.package,
            output: format!("cargo succeeded but wrote no {}", wasm.display()),
        });
    }
    Ok(Compiled {
        package: info.package,
        wasm,
        target_dir,
    })
}
