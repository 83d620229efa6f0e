//! The JSON Schema of the manifest format, generated from the raw types in `raw.rs`.
//!
//! Owns two renderings of one schema: the editor schema (with `$defs`, committed at
//! `schema/connector.schema.json`) and an inlined copy compiled once for the structural
//! check in `structure.rs`. Must not be edited by hand: change `raw.rs` instead.

use std::sync::LazyLock;

use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::raw::RawManifest;

/// The manifest schema as committed for editors (draft 2020-12, shared `$defs`).
pub(crate) fn editor_schema() -> Value {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<RawManifest>();
    schema.to_value()
}

/// The editor schema as pretty JSON text with a trailing newline, as committed.
pub fn editor_schema_text() -> String {
    // Serializing a `Value` cannot fail.
    let mut text = serde_json::to_string_pretty(&editor_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// Inlined schema and its compiled validator, for the structural check.
pub(crate) struct Structural {
    pub schema: Value,
    pub validator: Option<jsonschema::Validator>,
}

pub(crate) static STRUCTURAL: LazyLock<Structural> = LazyLock::new(|| {
    let schema = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<RawManifest>()
        .to_value();
    // The schema is generated from our own types; a failure here is a host bug that
    // the tests catch. Without a validator the structural check falls back to serde.
    let validator = jsonschema::draft202012::new(&schema).ok();
    Structural { schema, validator }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structural_schema_compiles() {
        assert!(STRUCTURAL.validator.is_some());
    }

    #[test]
    fn editor_schema_is_a_valid_2020_12_schema() {
        let s = editor_schema();
        assert!(jsonschema::draft202012::meta::is_valid(&s));
        assert_eq!(s["additionalProperties"], Value::Bool(false));
    }
}
