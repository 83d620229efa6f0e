//! The OAuth block's lists of names: scopes (and their separator), the extra
//! authorization request parameters, and the callback parameters a provider adds to its
//! redirect.
//!
//! Owns: the callback names the host reserves (the authorization parameters it sets are
//! `types::RESERVED_AUTHORIZE_PARAMS`) and the rules each list follows.
//! Must not: read files or JSON text, or stop at the first problem.

use std::collections::BTreeSet;

use crate::manifest::problems::{Pointer, Problems, hint};
use crate::manifest::raw::RawOAuth;
use crate::manifest::settings::SettingsSchema;

use crate::types::RESERVED_AUTHORIZE_PARAMS;

/// Callback parameters with an OAuth meaning of their own.
const RESERVED_CALLBACK_PARAMS: &[&str] = &[
    "code",
    "state",
    "error",
    "error_description",
    "error_uri",
    "iss",
    "scope",
];

/// "; did you mean ...?" among the settings schema's property names, or nothing.
pub(super) fn names_hint(settings: Option<&SettingsSchema>, name: &str) -> String {
    settings
        .map(|s| hint(name, s.properties().keys().map(String::as_str)))
        .unwrap_or_default()
}

/// Scopes that ask the provider for something other than API access (a refresh token)
/// and that providers do not report back as granted (Microsoft omits `offline_access`
/// from the token's `scope`); requested, never required by default.
const PROTOCOL_SCOPES: &[&str] = &["offline_access"];

/// The scopes a grant must include: `requiredScopes` when given (each one of `scopes`),
/// else every requested scope but the protocol ones.
pub(super) fn required_scopes(o: &RawOAuth, at: &Pointer, p: &mut Problems) -> Vec<String> {
    match &o.required_scopes {
        None => o
            .scopes
            .iter()
            .filter(|s| !PROTOCOL_SCOPES.contains(&s.as_str()))
            .cloned()
            .collect(),
        Some(required) => {
            for (i, scope) in required.iter().enumerate() {
                if !o.scopes.contains(scope) {
                    p.push(
                        at.at("requiredScopes").at(i),
                        format!(
                            "\"{scope}\" is not among the scopes requested (a grant holds only what was asked for){}",
                            hint(scope, o.scopes.iter().map(String::as_str))
                        ),
                    );
                }
            }
            required.clone()
        }
    }
}

/// Checks `scopes` and `scopeSeparator`; answers the separator.
pub(super) fn scopes(o: &RawOAuth, at: &Pointer, p: &mut Problems) -> String {
    let scope_separator = o.scope_separator.clone().unwrap_or_else(|| " ".to_owned());
    if scope_separator.is_empty() || scope_separator.chars().any(|c| c.is_ascii_alphanumeric()) {
        p.push(
            at.at("scopeSeparator"),
            "scopeSeparator must be non-empty punctuation or a space, such as \" \" or \",\"",
        );
    }
    let mut seen_scopes = BTreeSet::new();
    for (i, scope) in o.scopes.iter().enumerate() {
        let s_at = at.at("scopes").at(i);
        if scope.is_empty() {
            p.push(&s_at, "scope must not be empty");
        } else if scope.chars().any(char::is_whitespace)
            || (!scope_separator.is_empty() && scope.contains(scope_separator.as_str()))
        {
            p.push(
                &s_at,
                format!("scope \"{scope}\" must not contain whitespace or the scope separator"),
            );
        } else if !seen_scopes.insert(scope.as_str()) {
            p.push(&s_at, format!("scope \"{scope}\" is listed twice"));
        }
    }
    scope_separator
}

/// Checks `extraAuthorizeParams`: literal values, no parameter the host sets itself.
pub(super) fn extra_authorize_params(o: &RawOAuth, at: &Pointer, p: &mut Problems) {
    for (key, value) in &o.extra_authorize_params {
        let e_at = at.at("extraAuthorizeParams").at(key);
        if key.is_empty() {
            p.push(&e_at, "parameter name must not be empty");
        } else if RESERVED_AUTHORIZE_PARAMS.contains(&key.as_str()) {
            p.push(
                &e_at,
                format!("\"{key}\" is set by the host and cannot be overridden"),
            );
        } else if key == "access_type" && o.access_type.is_some() {
            p.push(&e_at, "\"access_type\" is already set by accessType");
        }
        if value.contains('{') {
            p.push(
                &e_at,
                "extraAuthorizeParams values are literal; placeholders are not expanded here",
            );
        }
    }
}

/// Checks `callbackParams`: declared, plain, optional string settings the host does not
/// handle itself, each listed once.
pub(super) fn callback_params(
    o: &RawOAuth,
    settings: Option<&SettingsSchema>,
    required_settings: &BTreeSet<&str>,
    at: &Pointer,
    p: &mut Problems,
) {
    let mut seen_params = BTreeSet::new();
    for (i, name) in o.callback_params.iter().enumerate() {
        let c_at = at.at("callbackParams").at(i);
        if RESERVED_CALLBACK_PARAMS.contains(&name.as_str()) {
            p.push(
                &c_at,
                format!("\"{name}\" is an OAuth callback parameter the host handles itself"),
            );
            continue;
        }
        if !seen_params.insert(name.as_str()) {
            p.push(&c_at, format!("\"{name}\" is listed twice"));
            continue;
        }
        match settings.map(|s| (s.property(name), s.required().contains(name))) {
            Some((None, _)) => p.push(
                &c_at,
                format!("callback parameter \"{name}\" must be declared as a property of connection.settingsSchema{}", names_hint(settings, name)),
            ),
            Some((Some(info), required)) => {
                if info.secret {
                    p.push(&c_at, format!("callback parameter \"{name}\" arrives in a browser redirect and cannot be x-secret"));
                }
                if !info.string {
                    p.push(&c_at, format!("callback parameter \"{name}\" must have \"type\": \"string\""));
                }
                if required || required_settings.contains(name.as_str()) {
                    p.push(&c_at, format!("callback parameter \"{name}\" is only known after authorization, so it cannot be required"));
                }
            }
            None => {}
        }
    }
}
