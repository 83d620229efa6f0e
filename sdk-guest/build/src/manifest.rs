//! Reading what the constants need from `connector.json`: the names in
//! `permissions.connections` and what each is granted.
//!
//! This module owns that one read. It must not check the rest of the manifest (the host's
//! validation does, with every problem and its JSON pointer) nor the names themselves
//! (`render` does, so every refusal names the rule).

use crate::GenerateError;
use serde_json::Value;
use std::path::Path;

/// One granted app connection: its name and its verbs (`token`, `inject`), in the
/// manifest's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub name: String,
    pub verbs: Vec<String>,
}

const VERBS: &[&str] = &["token", "inject"];

/// The app connections `text` (the manifest at `file`, named in errors) grants, sorted by
/// name. A manifest without `permissions` or `permissions.connections` grants none.
pub fn read_grants(text: &str, file: &Path) -> Result<Vec<Grant>, GenerateError> {
    let problem = |problem: String| GenerateError::Manifest {
        file: file.to_path_buf(),
        problem,
    };
    let root: Value =
        serde_json::from_str(text).map_err(|e| problem(format!("not valid JSON: {e}")))?;
    let Value::Object(root) = root else {
        return Err(problem("the manifest must be a JSON object".into()));
    };
    let permissions = match root.get("permissions") {
        None => return Ok(Vec::new()),
        Some(Value::Object(p)) => p,
        Some(_) => return Err(problem("permissions must be an object".into())),
    };
    let connections = match permissions.get("connections") {
        None => return Ok(Vec::new()),
        Some(Value::Object(c)) => c,
        Some(_) => {
            return Err(problem(
                "permissions.connections must be an object of name -> [\"token\"] or [\"inject\"]"
                    .into(),
            ));
        }
    };
    let mut grants = Vec::with_capacity(connections.len());
    for (name, verbs) in connections {
        let Value::Array(verbs) = verbs else {
            return Err(problem(format!(
                "permissions.connections.{name:?} must be a list such as [\"token\"] or [\"inject\"]"
            )));
        };
        let mut read = Vec::with_capacity(verbs.len());
        for verb in verbs {
            match verb.as_str() {
                Some(v) if VERBS.contains(&v) => read.push(v.to_string()),
                _ => {
                    return Err(problem(format!(
                        "permissions.connections.{name:?} grants {verb}; only \"token\" and \"inject\" exist"
                    )));
                }
            }
        }
        grants.push(Grant {
            name: name.clone(),
            verbs: read,
        });
    }
    grants.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(grants)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> &'static Path {
        Path::new("connectors/demo/connector.json")
    }

    #[test]
    fn reads_each_granted_name_with_its_verbs() {
        let text = r#"{ "key": "demo", "permissions": { "http": [],
            "connections": { "ms365-oauth": ["inject"], "google-oauth": ["token", "inject"] } } }"#;
        let grants = read_grants(text, file()).unwrap();
        assert_eq!(
            grants,
            vec![
                Grant {
                    name: "google-oauth".into(),
                    verbs: vec!["token".into(), "inject".into()]
                },
                Grant {
                    name: "ms365-oauth".into(),
                    verbs: vec!["inject".into()]
                },
            ]
        );
    }

    #[test]
    fn no_permissions_or_no_connections_grant_nothing() {
        assert!(
            read_grants(r#"{ "key": "demo" }"#, file())
                .unwrap()
                .is_empty()
        );
        let text = r#"{ "permissions": { "http": ["https://a.example/*"] } }"#;
        assert!(read_grants(text, file()).unwrap().is_empty());
    }

    #[test]
    fn a_manifest_that_does_not_parse_is_named_with_the_reason() {
        let err = read_grants("{ \"key\": ", file()).unwrap_err().to_string();
        assert!(
            err.starts_with("connectors/demo/connector.json: not valid JSON"),
            "{err}"
        );
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn a_misshapen_connections_block_says_what_is_wrong() {
        for (text, expected) in [
            ("[]", "the manifest must be a JSON object"),
            (r#"{ "permissions": [] }"#, "permissions must be an object"),
            (
                r#"{ "permissions": { "connections": ["google-oauth"] } }"#,
                "permissions.connections must be an object",
            ),
            (
                r#"{ "permissions": { "connections": { "google-oauth": "token" } } }"#,
                "permissions.connections.\"google-oauth\" must be a list",
            ),
            (
                r#"{ "permissions": { "connections": { "google-oauth": ["read"] } } }"#,
                "permissions.connections.\"google-oauth\" grants \"read\"",
            ),
        ] {
            let err = read_grants(text, file()).unwrap_err().to_string();
            assert!(err.starts_with("connectors/demo/connector.json: "), "{err}");
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
