//! The committed editor schema (`schema/connector.schema.json`) must match the one
//! generated from the raw manifest types. Regenerate with
//! `KEYWAY_BLESS=1 cargo test -p keyway-host --test manifest_schema`.

use std::path::{Path, PathBuf};

use keyway_host::manifest;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn committed_schema_is_up_to_date() {
    let path = repo().join("schema/connector.schema.json");
    let generated = manifest::editor_schema_text();
    if std::env::var_os("KEYWAY_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/connector.schema.json is out of date; regenerate it with \
         `KEYWAY_BLESS=1 cargo test -p keyway-host --test manifest_schema`"
    );
}

#[test]
fn editors_accept_the_valid_examples_and_flag_unknown_fields() {
    let schema: serde_json::Value = serde_json::from_str(&manifest::editor_schema_text()).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let corpus = repo().join("tests/manifests");
    for entry in std::fs::read_dir(corpus.join("valid")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        }
    }
    for name in [
        "unknown_oauth_field",
        "unknown_field_in_host_rule",
        "bad_kind",
        "wrong_types",
    ] {
        let path = corpus.join("invalid").join(format!("{name}.json"));
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(
            !validator.is_valid(&doc),
            "{name} should fail the editor schema"
        );
    }
}
