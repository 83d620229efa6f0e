//! An auth option's settings: the shared `connection.settingsSchema` with the option's own
//! `properties` and `required` added (an option may use no other keyword, and may not
//! declare a shared setting again), and the union of every option's settings that
//! `permissions` is checked against.
//!
//! Owns: those two schemas as JSON, before compiling. Must not: compile them or judge a
//! setting (`settings.rs` does).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::manifest::problems::{Pointer, Problems};
use crate::manifest::raw::RawConnection;
use crate::manifest::settings::SettingsSchema;
use crate::manifest::structure::type_name;

/// The keywords an option's own `settingsSchema` may use; the rest belong to the shared one.
const OPTION_SCHEMA_KEYS: [&str; 3] = ["type", "properties", "required"];

/// With options, the schema `permissions` is checked against: the shared settings and
/// every option's own, since a grant may name a setting any option declares. Problems in
/// it are reported at their option by `options`.
pub(super) fn grant_schema(conn: &RawConnection) -> Option<SettingsSchema> {
    let mut union = base_object(conn.settings_schema.as_ref())?;
    for option in conn.auth_options.values() {
        if let Some(Value::Object(props)) = option
            .settings_schema
            .as_ref()
            .and_then(|s| s.get("properties"))
        {
            let target = properties_mut(&mut union);
            for (name, prop) in props {
                target.entry(name.clone()).or_insert_with(|| prop.clone());
            }
        }
    }
    SettingsSchema::compile(
        Some(&Value::Object(union)),
        &Pointer::root(),
        &mut Problems::new(),
    )
}

/// The shared schema as an object to add to (an empty object schema when absent).
fn base_object(shared: Option<&Value>) -> Option<Map<String, Value>> {
    match shared {
        None => Some(Map::from_iter([
            ("type".to_owned(), Value::String("object".into())),
            ("properties".to_owned(), Value::Object(Map::new())),
        ])),
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => None,
    }
}

fn properties_mut(schema: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let entry = schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(m) => m,
        _ => unreachable!("replaced by an object just above"),
    }
}

/// The shared schema with the option's own properties and required names added; `None`
/// (with problems) when the option's schema is not of the allowed shape.
pub(super) fn merge(
    shared: Option<&Value>,
    own: Option<&Value>,
    at: &Pointer,
    p: &mut Problems,
) -> Option<Map<String, Value>> {
    let mut merged = base_object(shared)?;
    let Some(own) = own else {
        return Some(merged);
    };
    let Some(obj) = own.as_object() else {
        p.push(at, format!("expected an object, found {}", type_name(own)));
        return None;
    };
    let before = p.len();
    for key in obj.keys() {
        if !OPTION_SCHEMA_KEYS.contains(&key.as_str()) {
            p.push(
                at.at(key),
                format!(
                    "an auth option's settingsSchema holds only \"type\", \"properties\" and \
                     \"required\"; put \"{key}\" in connection.settingsSchema"
                ),
            );
        }
    }
    if let Some(t) = obj.get("type")
        && t.as_str() != Some("object")
    {
        p.push(
            at.at("type"),
            "settingsSchema must describe an object (\"type\": \"object\")",
        );
    }
    let shared_names: BTreeSet<String> = shared
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    match obj.get("properties") {
        None => {}
        Some(Value::Object(props)) => {
            let target = properties_mut(&mut merged);
            for (name, prop) in props {
                if shared_names.contains(name) {
                    p.push(
                        at.at("properties").at(name),
                        format!(
                            "setting \"{name}\" is already declared in connection.settingsSchema; \
                             declare it once"
                        ),
                    );
                } else {
                    target.insert(name.clone(), prop.clone());
                }
            }
        }
        Some(other) => p.push(
            at.at("properties"),
            format!("expected an object, found {}", type_name(other)),
        ),
    }
    match obj.get("required") {
        None => {}
        Some(Value::Array(items)) => {
            let required = merged
                .entry("required")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = required {
                list.extend(items.iter().cloned());
            }
        }
        Some(other) => p.push(
            at.at("required"),
            format!("expected an array, found {}", type_name(other)),
        ),
    }
    (p.len() == before).then_some(merged)
}
