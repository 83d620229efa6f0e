//! Structural check: the manifest JSON against the schema generated from `raw.rs`.
//!
//! Owns turning every structural error (unknown field, missing field, wrong type, unknown
//! enum value) into a `Problem` with a JSON pointer and a "did you mean" hint, so all of
//! them are reported at once rather than serde's first. Must not judge meaning: that is
//! `validate.rs`, which runs only on a structurally sound document.

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::problems::{Pointer, Problems, did_you_mean, hint};
use super::raw::RawManifest;
use super::schema::STRUCTURAL;

/// Every structural problem of `doc`, or the raw manifest when there is none.
pub(crate) fn check(doc: &Value) -> Result<RawManifest, Problems> {
    let mut problems = Problems::new();
    if !doc.is_object() {
        problems.push(
            "",
            format!("a manifest must be a JSON object, found {}", type_name(doc)),
        );
        return Err(problems);
    }
    if let Some(validator) = STRUCTURAL.validator.as_ref() {
        for err in validator.iter_errors(doc) {
            describe(&err, &mut problems);
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    serde_json::from_value::<RawManifest>(doc.clone()).map_err(|e| {
        let mut p = Problems::new();
        p.push("", e.to_string());
        p
    })
}

fn describe(err: &jsonschema::ValidationError<'_>, out: &mut Problems) {
    let at = Pointer::from_escaped(err.instance_path().as_str());
    let schema_path = err.schema_path().as_str();
    match err.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let known = known_properties(schema_path);
            for name in unexpected {
                let extra = match did_you_mean(name, known.iter().map(String::as_str)) {
                    Some(c) => format!("; did you mean \"{c}\"?"),
                    None if known.is_empty() => String::new(),
                    None => format!("; expected one of {}", quoted_list(&known)),
                };
                out.push(at.at(name), format!("unknown field \"{name}\"{extra}"));
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            out.push(at.at(name), format!("missing required field \"{name}\""));
        }
        ValidationErrorKind::Enum { options } => {
            let names: Vec<String> = options
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let given = err.instance();
            let message = match given.as_str() {
                Some(s) => format!(
                    "unknown value \"{s}\"{}",
                    or_expected(&hint(s, names.iter().map(String::as_str)), &names)
                ),
                None => format!(
                    "expected one of {}, found {}",
                    quoted_list(&names),
                    type_name(given)
                ),
            };
            out.push(at, message);
        }
        ValidationErrorKind::Type { .. } => {
            let expected = expected_type(schema_path);
            out.push(
                at,
                format!("expected {expected}, found {}", type_name(err.instance())),
            );
        }
        _ => out.push(at, err.to_string()),
    }
}

fn or_expected(hint: &str, names: &[String]) -> String {
    if hint.is_empty() {
        format!("; expected one of {}", quoted_list(names))
    } else {
        hint.to_owned()
    }
}

/// Property names declared next to the `additionalProperties` keyword that failed.
fn known_properties(schema_path: &str) -> Vec<String> {
    let parent = schema_path
        .strip_suffix("/additionalProperties")
        .unwrap_or(schema_path);
    STRUCTURAL
        .schema
        .pointer(parent)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn expected_type(schema_path: &str) -> String {
    let ty = STRUCTURAL.schema.pointer(schema_path);
    let names: Vec<&str> = match ty {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        "another type".to_owned()
    } else {
        names
            .iter()
            .map(|n| article(n))
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

fn article(ty: &str) -> String {
    match ty {
        "object" | "array" | "integer" => format!("an {ty}"),
        other => format!("a {other}"),
    }
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a string`, `an object`, ... for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(doc: Value) -> Vec<String> {
        match check(&doc) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn reports_every_structural_problem_with_hints() {
        let got = problems(json!({
            "key": "x", "name": "X", "provider": "x", "kind": "sorce",
            "verison": "0.1.0",
            "connection": { "oauth": { "type": "authorization_code", "client": {}, "pcke": true } }
        }));
        assert!(
            got.contains(
                &"/verison: unknown field \"verison\"; did you mean \"version\"?".to_owned()
            ),
            "{got:#?}"
        );
        assert!(
            got.contains(&"/version: missing required field \"version\"".to_owned()),
            "{got:#?}"
        );
        assert!(
            got.contains(&"/kind: unknown value \"sorce\"; did you mean \"source\"?".to_owned()),
            "{got:#?}"
        );
        assert!(
            got.contains(
                &"/connection/oauth/pcke: unknown field \"pcke\"; did you mean \"pkce\"?"
                    .to_owned()
            ),
            "{got:#?}"
        );
        assert!(
            got.contains(
                &"/connection/oauth/client/credentialKey: missing required field \"credentialKey\""
                    .to_owned()
            ),
            "{got:#?}"
        );
    }

    #[test]
    fn wrong_types_are_named() {
        let got = problems(
            json!({ "key": 3, "name": "X", "provider": "x", "kind": "source", "version": "1.0.0" }),
        );
        assert_eq!(
            got,
            vec!["/key: expected a string, found a number".to_owned()]
        );
    }

    #[test]
    fn non_object_document() {
        assert_eq!(
            problems(json!([1])),
            vec!["a manifest must be a JSON object, found an array".to_owned()]
        );
    }
}
