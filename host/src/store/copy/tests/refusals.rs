//! What a copy refuses (a target holding data, the same database twice, a wrong key, a
//! missing source) and what it must cope with (a column or table a later step adds,
//! foreign keys in any order).

use super::*;

#[test]
fn a_target_that_holds_data_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let lite = sqlite(dir.path(), "source.db");
    fill(&open(dir.path(), &lite, &key));
    let other = MasterKey::generate();
    let pg = postgres();
    let lite2 = sqlite(dir.path(), "other.db");
    for target in [&pg, &lite2] {
        let store = open(dir.path(), target, &other);
        store.create_api_key("theirs").unwrap();
        let before = dump(&store.conn());
        let err = copy_store(&lite, target, &key, &KeyOrigin::Explicit).unwrap_err();
        assert!(matches!(err, CopyError::TargetNotEmpty { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&target.to_string()), "{text}");
        assert!(text.contains("not empty"), "{text}");
        assert_eq!(dump(&store.conn()), before);
    }
    // Only a table's row counts: an empty store at this schema is a fine target, and
    // a database whose only row is the key check (a store opened once) is not.
    let opened = sqlite(dir.path(), "opened.db");
    drop(open(dir.path(), &opened, &key));
    let err = copy_store(&lite, &opened, &key, &KeyOrigin::Explicit).unwrap_err();
    assert!(err.to_string().contains("table `meta`"), "{err}");
    let migrated = postgres();
    migrations::apply(&mut open_db(&migrated).unwrap()).unwrap();
    copy(&lite, &migrated, &key);
}

#[test]
fn the_same_database_a_wrong_key_and_a_missing_source_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let lite = sqlite(dir.path(), "source.db");
    fill(&open(dir.path(), &lite, &key));
    let alias = DatabaseUrl::Sqlite(dir.path().join(".").join("source.db"));
    let err = copy_store(&lite, &alias, &key, &KeyOrigin::Explicit).unwrap_err();
    assert!(matches!(err, CopyError::SameDatabase { .. }), "{err}");
    let pg = postgres();
    let err = copy_store(&pg, &pg, &key, &KeyOrigin::Explicit).unwrap_err();
    assert!(matches!(err, CopyError::SameDatabase { .. }), "{err}");

    let target = sqlite(dir.path(), "target.db");
    let origin = KeyOrigin::File(dir.path().join("master.key"));
    let err = copy_store(&lite, &target, &MasterKey::generate(), &origin).unwrap_err();
    assert!(
        matches!(err, CopyError::Store(StoreError::WrongMasterKey { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("master.key"), "{err}");
    assert!(!dir.path().join("target.db").exists());

    let missing = sqlite(dir.path(), "missing.db");
    let err = copy_store(&missing, &target, &key, &KeyOrigin::Explicit).unwrap_err();
    assert!(matches!(err, CopyError::NoSource { .. }), "{err}");
    assert!(!dir.path().join("missing.db").exists());
    let err = copy_store(&postgres(), &target, &key, &KeyOrigin::Explicit).unwrap_err();
    assert!(matches!(err, CopyError::NoStore { .. }), "{err}");
    assert!(!dir.path().join("target.db").exists());
}

#[test]
fn a_column_or_table_added_by_a_later_step_is_copied() {
    // What a step 13 might add: a column, and a table with a foreign key and a
    // sealed-looking value. Made on both sides, as the migrations would.
    const STEP: &str = "ALTER TABLE connections ADD COLUMN note TEXT;
        CREATE TABLE widgets (
            id            TEXT PRIMARY KEY,
            connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
            sealed        BYTEA NOT NULL
        );";
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let lite = sqlite(dir.path(), "source.db");
    let store = open(dir.path(), &lite, &key);
    let (id, _) = fill(&store);
    store
        .conn()
        .execute_batch(&STEP.replace("BYTEA", "BLOB"))
        .unwrap();
    store
        .conn()
        .execute(
            "UPDATE connections SET note = 'n' WHERE id = ?1",
            [id.as_str()],
        )
        .unwrap();
    store
        .conn()
        .execute(
            "INSERT INTO widgets (id, connection_id, sealed) VALUES ('w', ?1, ?2)",
            crate::store::db::params![id, vec![0u8, 1, 2]],
        )
        .unwrap();
    drop(store);
    let pg = postgres();
    let mut target = open_db(&pg).unwrap();
    migrations::apply(&mut target).unwrap();
    target.execute_batch(STEP).unwrap();
    drop(target);
    let report = copy(&lite, &pg, &key);
    let names: Vec<&str> = report.tables.iter().map(|(n, _)| n.as_str()).collect();
    let at = |t: &str| names.iter().position(|n| *n == t).unwrap();
    assert!(at("connections") < at("widgets"));
    let copied = open_db(&pg).unwrap();
    let (note, sealed): (String, Vec<u8>) = copied
        .query_row(
            "SELECT c.note, w.sealed FROM connections c JOIN widgets w ON w.connection_id = c.id",
            (),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((note.as_str(), sealed), ("n", vec![0u8, 1, 2]));

    // A target without the step is refused, naming what it lacks.
    let old = postgres();
    let err = copy_store(&lite, &old, &key, &KeyOrigin::Explicit).unwrap_err();
    assert!(err.to_string().contains("`note`"), "{err}");
    assert!(
        open_db(&old)
            .unwrap()
            .query_row("SELECT count(*) FROM meta", (), |r| r.get::<_, i64>(0))
            .is_ok_and(|n| n == 0)
    );
}

#[test]
fn parents_come_first_and_a_cycle_is_refused() {
    let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let parents = vec![
        vec!["c".to_string()],
        vec![],
        vec!["b".to_string(), "c".to_string()],
    ];
    assert_eq!(parents_first(&names, &parents).unwrap(), ["b", "c", "a"]);
    let cycle = vec![vec!["b".to_string()], vec!["a".to_string()], vec![]];
    assert!(parents_first(&names, &cycle).is_err());
}
