//! The on-disk cache of compiled components, keyed by the component's SHA-256 and the
//! engine's compatibility hash, so a restart (or a new wasmtime) never loads stale code
//! and an unchanged component is never compiled twice.
//!
//! A cache entry is native code the process will run, so it is loaded only when it is
//! authentic: every entry carries an HMAC-SHA256 over its identity (component digest and
//! engine hash) and its bytes, keyed with a [`CacheKey`] derived from the master key (a
//! sub-key for this purpose only, never the master key itself). The tag is checked in
//! constant time before anything is deserialized; a tampered, truncated, foreign-key or
//! old-format entry is logged at WARN, recompiled and overwritten, never loaded. Entries
//! are written 0600 (to a temporary file, then renamed) inside a 0700 directory.
//!
//! Where no master key is available (`RuntimeConfig::cache_key` is `None`: a test
//! harness, or `keyway call` on a data directory that has no key yet), a random key made
//! once per process is used: entries are reused by every runtime of that process, and an
//! entry another process wrote is never trusted (it is recompiled and overwritten), so
//! the disk cache is in effect off across processes.
//!
//! Must not: map an entry (a file truncated by someone else would fault the process),
//! load one whose tag does not verify, or log key material.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::store::crypto::COMPONENT_CACHE_LABEL;
use crate::store::{MasterKey, SubKey};
/// First bytes of an authenticated entry (format version 1).
const MAGIC: &[u8; 8] = b"KWCC\x01\0\0\0";
const TAG_LEN: usize = 32;
/// An entry larger than this is not read at all.
const MAX_ENTRY_BYTES: u64 = 1 << 30;

type HmacSha256 = Hmac<Sha256>;

/// The key that authenticates cache entries: the master key's component-cache sub-key,
/// zeroed when dropped. `Debug` is redacted.
#[derive(Clone)]
pub struct CacheKey(SubKey);

/// The store hands out the sub-key; the runtime (or whoever builds its configuration)
/// turns it into the cache key.
impl From<SubKey> for CacheKey {
    fn from(key: SubKey) -> Self {
        CacheKey(key)
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(<redacted>)")
    }
}

impl CacheKey {
    /// The cache's sub-key of `master`.
    pub fn from_master(master: &MasterKey) -> Self {
        CacheKey(master.derive_subkey(COMPONENT_CACHE_LABEL))
    }

    /// The key of this process when none is configured: the sub-key of a random master
    /// key, made once.
    fn process_key() -> &'static CacheKey {
        static KEY: OnceLock<CacheKey> = OnceLock::new();
        KEY.get_or_init(|| CacheKey::from_master(&MasterKey::generate()))
    }

    fn mac(&self, identity: &str, artifact: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length; a 32-byte key cannot be refused.
        let mut mac = match HmacSha256::new_from_slice(self.0.expose_secret()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(b"keyway component cache v1\0");
        mac.update(&(identity.len() as u64).to_be_bytes());
        mac.update(identity.as_bytes());
        mac.update(artifact);
        mac
    }
}

/// Where a component came from (for tests and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Compiled; no disk cache configured.
    Uncached,
    /// Loaded from an authenticated entry.
    Loaded,
    /// Compiled because there was no usable entry (none, or one refused).
    Compiled,
}

/// Compiles `wasm`, or loads it from `cache_dir` when an authentic entry for these exact
/// bytes and this engine exists. An entry that is not authentic or not usable is
/// replaced, never trusted.
pub(crate) fn load_or_compile(
    engine: &Engine,
    cache_dir: Option<&Path>,
    key: Option<&CacheKey>,
    wasm: &[u8],
) -> wasmtime::Result<Component> {
    load_or_compile_outcome(engine, cache_dir, key, wasm).map(|(component, _)| component)
}

pub(crate) fn load_or_compile_outcome(
    engine: &Engine,
    cache_dir: Option<&Path>,
    key: Option<&CacheKey>,
    wasm: &[u8],
) -> wasmtime::Result<(Component, Outcome)> {
    let Some(dir) = cache_dir else {
        return Ok((Component::new(engine, wasm)?, Outcome::Uncached));
    };
    let key = key.unwrap_or_else(|| CacheKey::process_key());
    let identity = entry_identity(engine, wasm);
    let path = dir.join(format!("{identity}.cwasm"));
    match read_authentic(&path, &identity, key) {
        Ok(Some(artifact)) => {
            // SAFETY: the bytes carry a valid HMAC under this host's cache key over this
            // component's digest and this engine's compatibility hash, so they are what
            // `Component::serialize` wrote for exactly this component and engine. wasmtime
            // still checks the header and refuses mismatched artifacts.
            match unsafe { Component::deserialize(engine, artifact) } {
                Ok(component) => return Ok((component, Outcome::Loaded)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable component cache entry")
                }
            }
        }
        Ok(None) => {}
        Err(reason) => {
            tracing::warn!(path = %path.display(), reason, "refusing unauthenticated component cache entry; recompiling")
        }
    }
    let component = Component::new(engine, wasm)?;
    if let Err(e) = write_entry(dir, &path, &identity, key, &component) {
        tracing::warn!(path = %path.display(), error = %e, "could not write component cache entry");
    }
    Ok((component, Outcome::Compiled))
}

fn entry_identity(engine: &Engine, wasm: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(wasm));
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{digest}-{:016x}", h.finish())
}

/// The artifact of the entry at `path` when it is present and authentic; `Ok(None)` when
/// there is no entry; `Err` naming why an entry present is refused.
fn read_authentic(
    path: &Path,
    identity: &str,
    key: &CacheKey,
) -> Result<Option<Vec<u8>>, &'static str> {
    let len = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(_) => return Ok(None),
    };
    if len > MAX_ENTRY_BYTES {
        return Err("entry is larger than any compiled component");
    }
    // Read into memory rather than map the file: a mapped file truncated by someone else
    // would fault the whole process.
    let mut bytes = std::fs::read(path).map_err(|_| "entry cannot be read")?;
    let header = MAGIC.len() + TAG_LEN;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return Err("entry has no authentication header (old format or not a cache entry)");
    }
    let tag = bytes[MAGIC.len()..header].to_vec();
    key.mac(identity, &bytes[header..])
        .verify_slice(&tag)
        .map_err(|_| "entry tag does not verify (tampered, or written under another key)")?;
    bytes.drain(..header);
    Ok(Some(bytes))
}

fn write_entry(
    dir: &Path,
    path: &Path,
    identity: &str,
    key: &CacheKey,
    component: &Component,
) -> wasmtime::Result<()> {
    private_dir(dir)?;
    let artifact = component.serialize()?;
    let tag = key.mac(identity, &artifact).finalize().into_bytes();
    let tmp = temp_path(path);
    let written = (|| -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&tmp)?;
        file.write_all(MAGIC)?;
        file.write_all(&tag)?;
        file.write_all(&artifact)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(written?)
}

/// Creates `dir` (mode 0700) or narrows an existing one to 0700.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

fn temp_path(path: &Path) -> PathBuf {
    use rand::RngCore;
    path.with_extension(format!(
        "tmp{}-{:016x}",
        std::process::id(),
        rand::rng().next_u64()
    ))
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
