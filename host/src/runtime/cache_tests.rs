//! Unit tests of the authenticated component cache, on the smallest valid component.

use super::*;

/// `\0asm`, component-model version 0x0d, layer 1: a component with nothing in it.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

fn engine() -> Engine {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    Engine::new(&config).expect("engine")
}

fn key() -> CacheKey {
    CacheKey::from_master(&MasterKey::generate())
}

fn only_entry(dir: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

fn outcome(engine: &Engine, dir: &Path, key: &CacheKey) -> Outcome {
    load_or_compile_outcome(engine, Some(dir), Some(key), EMPTY_COMPONENT)
        .expect("compiles")
        .1
}

#[test]
fn an_authentic_entry_is_loaded_and_written_private() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    let (engine, key) = (engine(), key());
    assert_eq!(outcome(&engine, &dir, &key), Outcome::Compiled);
    assert_eq!(outcome(&engine, &dir, &key), Outcome::Loaded);
    let entry = only_entry(&dir);
    assert!(std::fs::read(&entry).expect("entry").starts_with(MAGIC));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&entry), 0o600, "entry mode");
        assert_eq!(mode(&dir), 0o700, "directory mode");
    }
}

#[test]
fn a_flipped_byte_anywhere_is_recompiled_and_overwritten() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    let (engine, key) = (engine(), key());
    outcome(&engine, &dir, &key);
    let entry = only_entry(&dir);
    let good = std::fs::read(&entry).expect("entry");
    // In the magic, in the tag, in the middle of the artifact and at its last byte.
    for at in [2, MAGIC.len() + 5, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        std::fs::write(&entry, &bad).expect("tamper");
        assert_eq!(
            outcome(&engine, &dir, &key),
            Outcome::Compiled,
            "byte {at} flipped"
        );
        assert_eq!(std::fs::read(&entry).expect("entry"), good, "rewritten");
    }
    // Truncated to its header, or empty.
    for len in [MAGIC.len() + TAG_LEN, 0] {
        std::fs::write(&entry, &good[..len]).expect("truncate");
        assert_eq!(outcome(&engine, &dir, &key), Outcome::Compiled);
    }
}

#[test]
fn an_entry_under_another_key_or_without_a_tag_is_not_loaded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    let engine = engine();
    let (ours, theirs) = (key(), key());
    outcome(&engine, &dir, &theirs);
    assert_eq!(outcome(&engine, &dir, &ours), Outcome::Compiled);
    // Rewritten under our key: now ours loads it and theirs does not.
    assert_eq!(outcome(&engine, &dir, &ours), Outcome::Loaded);
    assert_eq!(outcome(&engine, &dir, &theirs), Outcome::Compiled);

    // A bare serialized artifact (what the cache wrote before entries were
    // authenticated, or what an attacker would plant) is never deserialized.
    let entry = only_entry(&dir);
    let component = Component::new(&engine, EMPTY_COMPONENT).expect("compile");
    std::fs::write(&entry, component.serialize().expect("serialize")).expect("plant");
    assert_eq!(outcome(&engine, &dir, &ours), Outcome::Compiled);
}

#[test]
fn an_entry_is_bound_to_its_component() {
    // A valid entry copied over the name of another component's entry does not verify:
    // the tag covers the component digest in the entry's identity.
    let key = key();
    let identity = "aa-0000000000000000";
    let tag = key.mac(identity, b"artifact").finalize().into_bytes();
    assert!(
        key.mac("bb-0000000000000000", b"artifact")
            .verify_slice(&tag)
            .is_err()
    );
    assert!(key.mac(identity, b"artifact").verify_slice(&tag).is_ok());
}

#[test]
fn an_existing_open_directory_is_narrowed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    std::fs::create_dir(&dir).expect("mkdir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        outcome(&engine(), &dir, &key());
        let mode = std::fs::metadata(&dir).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}

#[test]
fn without_a_configured_key_the_process_key_is_used() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    let engine = engine();
    let run = || {
        load_or_compile_outcome(&engine, Some(&dir), None, EMPTY_COMPONENT)
            .expect("compiles")
            .1
    };
    assert_eq!(run(), Outcome::Compiled);
    assert_eq!(run(), Outcome::Loaded);
    // Another key (another process) does not trust it.
    assert_eq!(outcome(&engine, &dir, &key()), Outcome::Compiled);
    assert_eq!(
        load_or_compile_outcome(&engine, None, None, EMPTY_COMPONENT)
            .expect("compiles")
            .1,
        Outcome::Uncached
    );
}
