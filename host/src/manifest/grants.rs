//! The identity and grant rules of the meaning pass: the key, provider and entity name
//! formats, `permissions` (http patterns, entity and secret grants) and route
//! references. Must not judge OAuth or settings (`validate.rs`, `settings.rs`), and
//! reports every problem rather than stopping at the first.

use super::connector::{Permissions, RouteRef};
use super::patterns::HttpPattern;
use super::problems::{Pointer, Problems, hint};
use super::raw::{
    RawConnectionVerb, RawEntityVerb, RawMethod, RawPermissions, RawRouteRef, RawSecretVerb,
};
use super::settings::SettingsSchema;
use crate::types::Method;

pub(super) fn check_key(key: &str, at: &Pointer, p: &mut Problems) {
    if !crate::types::is_key(key) {
        p.push(
            at,
            format!(
                "key \"{key}\" must be 1-64 lowercase letters and digits in words joined by single hyphens (for example \"acme-crm\")"
            ),
        );
    }
}

pub(super) fn is_provider(s: &str) -> bool {
    s.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

pub(super) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

pub(super) fn permissions(
    raw: &RawPermissions,
    settings: Option<&SettingsSchema>,
    p: &mut Problems,
) -> Permissions {
    let at = Pointer::root().at("permissions");
    let mut out = Permissions::default();
    for (i, text) in raw.http.iter().enumerate() {
        match HttpPattern::parse(text) {
            Ok(pattern) => out.http.push(pattern),
            Err(e) => p.push(at.at("http").at(i), format!("pattern \"{text}\": {e}")),
        }
    }
    for (entity, verbs) in &raw.entities {
        let e_at = at.at("entities").at(entity);
        if !is_name(entity) {
            p.push(
                &e_at,
                format!("entity name \"{entity}\" must be letters, digits, \"_\", \"-\" or \".\""),
            );
        }
        if verbs.is_empty() {
            p.push(&e_at, "grants nothing; use [\"write\"]");
        }
        out.entities
            .insert(entity.clone(), verbs.contains(&RawEntityVerb::Write));
    }
    for (name, verbs) in &raw.secrets {
        let s_at = at.at("secrets").at(name);
        if verbs.is_empty() {
            p.push(&s_at, "grants nothing; use [\"read\"] or [\"inject\"]");
        }
        if let Some(schema) = settings {
            match schema.property(name) {
                None => p.push(
                    &s_at,
                    format!(
                        "secret \"{name}\" is not a property of connection.settingsSchema{}",
                        hint(name, schema.properties().keys().map(String::as_str))
                    ),
                ),
                Some(info) if !info.secret => p.push(
                    &s_at,
                    format!("setting \"{name}\" is not marked \"x-secret\": true; only secret settings are granted here (read others with settings.get)"),
                ),
                Some(_) => {}
            }
        }
        if verbs.contains(&RawSecretVerb::Read) {
            out.secrets.insert(name.clone());
        }
        if verbs.contains(&RawSecretVerb::Inject) {
            out.injectable_secrets.insert(name.clone());
        }
    }
    for (name, verbs) in &raw.connections {
        let c_at = at.at("connections").at(name);
        if !is_app_connection_name(name) {
            p.push(
                &c_at,
                format!("app connection name \"{name}\" must be {APP_CONNECTION_NAME_RULE}"),
            );
        }
        if verbs.is_empty() {
            p.push(&c_at, "grants nothing; use [\"token\"] or [\"inject\"]");
        }
        if verbs.contains(&RawConnectionVerb::Token) {
            out.readable_apps.insert(name.clone());
        }
        if verbs.contains(&RawConnectionVerb::Inject) {
            out.injectable_apps.insert(name.clone());
        }
    }
    out
}

/// The rule `keyway app-connections create` enforces on names, as messages state it: the
/// one rule for connection names of either kind.
pub use crate::types::CONNECTION_NAME_RULE as APP_CONNECTION_NAME_RULE;
/// Whether a name follows [`APP_CONNECTION_NAME_RULE`]; public so the connector test
/// runtime checks the names it seeds the same way.
pub use crate::types::is_connection_name as is_app_connection_name;

pub(super) fn route(raw: &RawRouteRef, at: &Pointer, p: &mut Problems) -> Option<RouteRef> {
    let path = &raw.route;
    let ok = path.starts_with('/')
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'{' | b'}' | b'\\'));
    if !ok {
        p.push(
            at.at("route"),
            format!("route \"{path}\" must be an absolute path such as \"/setup/test_connection\" (no query, spaces or \"//\")"),
        );
        return None;
    }
    let method = match raw.method {
        RawMethod::Get => Method::Get,
        RawMethod::Post => Method::Post,
        RawMethod::Put => Method::Put,
        RawMethod::Patch => Method::Patch,
        RawMethod::Delete => Method::Delete,
    };
    Some(RouteRef {
        method,
        path: path.clone(),
    })
}
