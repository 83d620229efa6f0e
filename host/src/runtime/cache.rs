//! The on-disk cache of compiled components, keyed by the component's SHA-256 and the
//! engine's compatibility hash, so a restart (or a new wasmtime) never loads stale code
//! and an unchanged component is never compiled twice.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiles `wasm`, or loads it from `cache_dir` when an entry for these exact bytes and
/// this engine exists. A corrupt or incompatible entry is replaced, never trusted.
pub(crate) fn load_or_compile(
    engine: &Engine,
    cache_dir: Option<&Path>,
    wasm: &[u8],
) -> wasmtime::Result<Component> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, wasm);
    };
    let path = entry_path(engine, dir, wasm);
    // Read into memory rather than map the file: a mapped file truncated by someone else
    // would fault the whole process.
    if let Ok(bytes) = std::fs::read(&path) {
        // SAFETY: the file was written by `Component::serialize` of an engine with the same
        // compatibility hash (it is part of the name), in a directory the operator owns.
        // wasmtime still checks the header and refuses mismatched artifacts.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable component cache entry")
            }
        }
    }
    let component = Component::new(engine, wasm)?;
    if let Err(e) = store(dir, &path, &component) {
        tracing::warn!(path = %path.display(), error = %e, "could not write component cache entry");
    }
    Ok(component)
}

fn entry_path(engine: &Engine, dir: &Path, wasm: &[u8]) -> PathBuf {
    let digest = hex::encode(Sha256::digest(wasm));
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    dir.join(format!("{digest}-{:016x}.cwasm", h.finish()))
}

fn store(dir: &Path, path: &Path, component: &Component) -> wasmtime::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize()?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
