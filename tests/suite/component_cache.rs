//! The compiled-component cache on disk trusts only entries it authenticated: a planted,
//! tampered or foreign-key entry is recompiled and overwritten, never run, and entries are
//! private to the operator (0600 files in a 0700 directory). Real components from the
//! build script.

use std::path::{Path, PathBuf};

use keyway_host::runtime::{CacheKey, LoadedComponent, Runtime, RuntimeConfig};
use keyway_host::store::MasterKey;
use keyway_tests::components;
use sha2::{Digest, Sha256};

fn runtime(dir: &Path, key: &CacheKey) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        cache_key: Some(key.clone()),
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

async fn load(rt: &Runtime, key: &str, path: &str) -> LoadedComponent {
    rt.load_component(key, Path::new(path))
        .await
        .unwrap_or_else(|e| panic!("{key} loads: {e}"))
}

/// The cache entry of the component at `wasm`: its name starts with the bytes' SHA-256.
fn entry_of(dir: &Path, wasm: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(std::fs::read(wasm).expect("component")));
    std::fs::read_dir(dir)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&digest) && n.ends_with(".cwasm"))
        })
        .unwrap_or_else(|| panic!("no cache entry for {wasm}"))
}

fn paths(c: &LoadedComponent) -> Vec<String> {
    let mut out: Vec<String> = c.routes().iter().map(|r| r.path.clone()).collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_planted_or_tampered_entry_is_recompiled_never_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    let key = CacheKey::from_master(&MasterKey::generate());
    let rt = runtime(&dir, &key);
    let hello_routes = paths(&load(&rt, "hello", components::HELLO).await);
    let ingester_routes = paths(&load(&rt, "ingester", components::INGESTER).await);
    assert_ne!(hello_routes, ingester_routes);
    let hello_entry = entry_of(&dir, components::HELLO);
    let ingester_entry = entry_of(&dir, components::INGESTER);

    // Another component's valid entry planted under hello's name is not run as hello.
    let planted = std::fs::read(&ingester_entry).expect("entry");
    std::fs::write(&hello_entry, &planted).expect("plant");
    let hello = load(&runtime(&dir, &key), "hello", components::HELLO).await;
    assert_eq!(paths(&hello), hello_routes, "hello's own code runs");
    let rewritten = std::fs::read(&hello_entry).expect("entry");
    assert_ne!(rewritten, planted, "the planted entry was overwritten");

    // One flipped byte in the middle of the compiled code: recompiled and overwritten.
    let mut flipped = rewritten.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x40;
    std::fs::write(&hello_entry, &flipped).expect("tamper");
    let hello = load(&runtime(&dir, &key), "hello", components::HELLO).await;
    assert_eq!(paths(&hello), hello_routes);
    assert_ne!(std::fs::read(&hello_entry).expect("entry"), flipped);
}

#[tokio::test]
async fn an_entry_written_under_another_key_is_not_loaded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    let theirs = CacheKey::from_master(&MasterKey::generate());
    let ours = CacheKey::from_master(&MasterKey::generate());
    load(&runtime(&dir, &theirs), "hello", components::HELLO).await;
    let entry = entry_of(&dir, components::HELLO);
    let their_bytes = std::fs::read(&entry).expect("entry");

    // Ours does not trust it: it recompiles and writes its own entry...
    load(&runtime(&dir, &ours), "hello", components::HELLO).await;
    let our_bytes = std::fs::read(&entry).expect("entry");
    assert_ne!(our_bytes, their_bytes);
    // ...which it then reuses as it is (a restart does not rewrite it).
    let modified = std::fs::metadata(&entry)
        .and_then(|m| m.modified())
        .expect("mtime");
    load(&runtime(&dir, &ours), "hello", components::HELLO).await;
    assert_eq!(std::fs::read(&entry).expect("entry"), our_bytes);
    assert_eq!(
        std::fs::metadata(&entry)
            .and_then(|m| m.modified())
            .expect("mtime"),
        modified
    );
}

#[cfg(unix)]
#[tokio::test]
async fn entries_are_private_to_the_operator() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    // A directory left open by an earlier version is narrowed.
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let key = CacheKey::from_master(&MasterKey::generate());
    load(&runtime(&dir, &key), "hello", components::HELLO).await;
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "cache directory");
    assert_eq!(
        mode(&entry_of(&dir, components::HELLO)),
        0o600,
        "cache entry"
    );
}
