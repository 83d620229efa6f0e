//! The catalog's rules: one directory per key whichever way it is asked for, and an entry
//! read again once its manifest changed on disk.

use super::index::test_connector;
use super::*;

fn catalog(dirs: Vec<PathBuf>) -> Catalog {
    Catalog::new(dirs, RuntimeConfig::default())
}

#[test]
fn every_way_of_asking_for_an_ambiguous_key_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let strict = test_connector(root.path(), "strict", "dup");
    let shadow = test_connector(root.path(), "shadow", "dup");
    test_connector(root.path(), "other", "other");
    let c = catalog(vec![root.path().to_path_buf()]);
    for reference in [
        "dup".to_string(),
        strict.display().to_string(),
        shadow.display().to_string(),
    ] {
        let e = c
            .manifest(&reference, Lookup::KeyOrPath)
            .expect_err("ambiguous")
            .to_string();
        assert!(e.contains(&strict.display().to_string()), "{e}");
        assert!(e.contains(&shadow.display().to_string()), "{e}");
    }
    assert_eq!(
        c.manifest("other", Lookup::KeyOnly)
            .expect("unique")
            .connector
            .key(),
        "other"
    );
}

#[test]
fn a_directory_outside_the_search_dirs_cannot_take_over_a_served_key() {
    let root = tempfile::tempdir().expect("tempdir");
    let served = test_connector(&root.path().join("connectors"), "one", "one");
    let outsider = test_connector(root.path(), "elsewhere", "other-key");
    let c = catalog(vec![root.path().join("connectors")]);
    let by_key = c.manifest("one", Lookup::KeyOnly).expect("served");
    let by_dir = c
        .manifest(&served.display().to_string(), Lookup::KeyOrPath)
        .expect("same dir");
    assert!(Arc::ptr_eq(&by_key, &by_dir));
    // A connector outside the index is found by directory, then owns its key.
    assert!(
        c.manifest(&outsider.display().to_string(), Lookup::KeyOrPath)
            .is_ok()
    );
    let late = test_connector(root.path(), "late", "other-key");
    let e = c
        .manifest(&late.display().to_string(), Lookup::KeyOrPath)
        .expect_err("second directory for the key");
    assert!(e.to_string().contains("other-key"), "{e}");
}

#[test]
fn a_key_only_lookup_never_reads_a_path() {
    let root = tempfile::tempdir().expect("tempdir");
    let outsider = test_connector(root.path(), "elsewhere", "outside");
    let c = catalog(vec![root.path().join("connectors")]);
    let e = c
        .manifest(&outsider.display().to_string(), Lookup::KeyOnly)
        .expect_err("paths are not keys");
    assert!(matches!(e, CatalogError::NotFound { .. }), "{e}");
}

#[test]
fn a_changed_manifest_is_read_again() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = test_connector(root.path(), "one", "one");
    let c = catalog(vec![root.path().to_path_buf()]);
    let first = c.manifest("one", Lookup::KeyOnly).expect("served");
    assert_eq!(first.connector.name(), "one");

    let path = dir.join(MANIFEST_FILE);
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    doc["name"] = serde_json::Value::String("One, renamed".into());
    std::fs::write(&path, doc.to_string()).expect("write");
    // Within the recheck window the cached entry is served as it is.
    assert!(Arc::ptr_eq(
        &first,
        &c.manifest("one", Lookup::KeyOnly).expect("cached")
    ));
    // Past it, the changed file is read again, under the key and under the path alike.
    for entry in c.entries.load().values() {
        entry.look_again();
    }
    let second = c.manifest("one", Lookup::KeyOnly).expect("reloaded");
    assert_eq!(second.connector.name(), "One, renamed");
    let by_dir = c
        .manifest(&dir.display().to_string(), Lookup::KeyOrPath)
        .expect("by dir");
    assert!(Arc::ptr_eq(&second, &by_dir));
}

#[test]
fn a_directory_that_changes_its_key_no_longer_serves_the_old_one() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = test_connector(root.path(), "one", "one");
    let c = catalog(vec![root.path().to_path_buf()]);
    assert!(c.manifest("one", Lookup::KeyOnly).is_ok());

    let path = dir.join(MANIFEST_FILE);
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    doc["key"] = serde_json::Value::String("two".into());
    std::fs::write(&path, doc.to_string()).expect("write");
    for entry in c.entries.load().values() {
        entry.look_again();
    }
    let e = c
        .manifest("one", Lookup::KeyOnly)
        .expect_err("the key is gone");
    assert!(matches!(e, CatalogError::NotFound { .. }), "{e}");
    // A fresh catalog (a restart) finds nothing by the old key either, before any entry.
    let fresh = catalog(vec![root.path().to_path_buf()]);
    let index_copy = fresh.index().by_key("two").expect("indexed");
    assert!(index_copy.is_some());
    assert!(fresh.manifest("one", Lookup::KeyOnly).is_err());
}

#[test]
fn a_manifest_changed_after_the_scan_is_read_again_before_its_first_use() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = test_connector(root.path(), "one", "one");
    let c = catalog(vec![root.path().to_path_buf()]);
    c.index();
    let path = dir.join(MANIFEST_FILE);
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    doc["name"] = serde_json::Value::String("Changed".into());
    std::fs::write(&path, doc.to_string()).expect("write");
    assert_eq!(
        c.manifest("one", Lookup::KeyOnly)
            .expect("served")
            .connector
            .name(),
        "Changed"
    );
}
