//! How a connection authenticates: the connector's single shape (`connection.settingsSchema`,
//! `oauth`, `inject`, `api`) or its named `connection.authOptions`, each validated into an
//! `AuthOption`.
//!
//! Owns the option rules: names, `type` against the blocks an option holds (`oauth` needs an
//! authorization-code block, `clientCredentials` a client-credentials one, `apiKey` and
//! `basic` a secret setting and no OAuth), one kind per setting name across options, and
//! where the connection-level blocks may no longer sit once options
//! exist. Must not: judge the OAuth block or injection rules itself (`oauth.rs`,
//! `inject.rs` do, at the option's pointer), or build an option's settings schema
//! (`option_settings.rs` does).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use url::Url;

use super::host_rules::host_rules;
use super::oauth::oauth;
use super::option_settings::merge;
use super::preset;
use crate::manifest::api::api;
use crate::manifest::connector::{AuthKind, AuthOption, OAuthFlow, Permissions};
use crate::manifest::inject::{self, TemplateEnv};
use crate::manifest::problems::{Pointer, Problems};
use crate::manifest::raw::{
    RawApi, RawAuthKind, RawAuthOption, RawConnection, RawHostRule, RawInjectRule, RawOAuth,
};
use crate::manifest::settings::SettingsSchema;

/// Longest option name.
const MAX_NAME: usize = 64;

/// Every way a connection may authenticate, validated; empty when a problem was found.
pub(super) fn options(
    conn: RawConnection,
    shared: Option<SettingsSchema>,
    permissions: &Permissions,
    at: &Pointer,
    p: &mut Problems,
) -> Vec<AuthOption> {
    let RawConnection {
        settings_schema,
        oauth: conn_oauth,
        inject: conn_inject,
        api: conn_api,
        host_validation: conn_host_rules,
        auth_options,
        ..
    } = conn;
    if auth_options.is_empty() {
        let Some(schema) = shared else {
            return Vec::new();
        };
        let parts = Parts {
            oauth: conn_oauth,
            inject: &conn_inject,
            api: conn_api.as_ref(),
            api_at: at.at("api"),
            needs_rule: permissions.injectable_secrets.clone(),
            host_rules: &conn_host_rules,
            host_rules_at: at.at("hostValidation"),
        };
        return shape(None, schema, parts, permissions, at, p)
            .into_iter()
            .collect();
    }
    let opts_at = at.at("authOptions");
    if conn_oauth.is_some() {
        p.push(
            at.at("oauth"),
            "with connection.authOptions, the OAuth block belongs to an option: move it into \
             the option of type \"oauth\" or \"clientCredentials\"",
        );
    }
    if !conn_inject.is_empty() {
        p.push(
            at.at("inject"),
            "with connection.authOptions, injection rules belong to the option whose secret \
             they inject: move them into that option's \"inject\"",
        );
    }
    if !conn_host_rules.is_empty() {
        p.push(
            at.at("hostValidation"),
            "with connection.authOptions, hostValidation rules belong to the option whose URLs \
             use the setting: move them into that option's \"hostValidation\" (or its OAuth \
             block's)",
        );
    }
    let shared_names: BTreeSet<String> = settings_schema
        .as_ref()
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    // Every setting some option names, even one with problems of its own.
    let mut named: BTreeSet<String> = shared_names.clone();
    for option in auth_options.values() {
        if let Some(Value::Object(props)) = option
            .settings_schema
            .as_ref()
            .and_then(|s| s.get("properties"))
        {
            named.extend(props.keys().cloned());
        }
    }
    // Shared secret settings granted inject, and the options that give them no rule.
    let mut lacking: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut out = Vec::new();
    // Each setting's first option, and whether it is secret there.
    let mut declared: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for (name, raw) in auth_options {
        let o_at = opts_at.at(&name);
        let before = p.len();
        check_name(&name, &o_at, p);
        let kind = kind_of(&raw, &o_at, p);
        if raw.title.trim().is_empty() {
            p.push(o_at.at("title"), "title must not be empty");
        }
        let help_url = raw
            .help_url
            .as_deref()
            .and_then(|text| match Url::parse(text) {
                Ok(u) if u.scheme() == "https" => Some(u),
                Ok(_) => {
                    p.push(
                        o_at.at("helpUrl"),
                        format!("helpUrl \"{text}\" must be https"),
                    );
                    None
                }
                Err(e) => {
                    p.push(
                        o_at.at("helpUrl"),
                        format!("helpUrl \"{text}\" is not a URL ({e})"),
                    );
                    None
                }
            });
        let merged = shared.as_ref().and_then(|_| {
            merge(
                settings_schema.as_ref(),
                raw.settings_schema.as_ref(),
                &o_at.at("settingsSchema"),
                p,
            )
        });
        let schema = merged.and_then(|m| {
            SettingsSchema::compile(Some(&Value::Object(m)), &o_at.at("settingsSchema"), p)
        });
        let Some(schema) = schema else { continue };
        for (setting, info) in schema.properties() {
            if let Some((other, secret)) = declared.get(setting)
                && *secret != info.secret
            {
                let (here, there) = if info.secret {
                    ("secret", "not")
                } else {
                    ("not secret", "")
                };
                p.push(
                    o_at.at("settingsSchema").at("properties").at(setting),
                    format!(
                        "setting \"{setting}\" is {here} here but {there} secret in option \
                         `{other}`; one name, one kind of setting"
                    )
                    .replace("  ", " "),
                );
            }
            declared
                .entry(setting.clone())
                .or_insert_with(|| (name.clone(), info.secret));
        }
        if matches!(kind, Some(AuthKind::ApiKey | AuthKind::Basic))
            && schema.secret_names().next().is_none()
        {
            p.push(
                o_at.at("settingsSchema"),
                "an option of type \"apiKey\" or \"basic\" needs a setting marked \"x-secret\": \
                 true to hold the credential",
            );
        }
        // Its own secrets granted inject need rules here; shared ones are checked below.
        let needs_rule: BTreeSet<String> = schema
            .secret_names()
            .filter(|s| permissions.injectable_secrets.contains(*s) && !shared_names.contains(*s))
            .map(str::to_owned)
            .collect();
        for s in shared_names
            .iter()
            .filter(|s| permissions.injectable_secrets.contains(*s))
        {
            if !raw.inject.contains_key(s) {
                lacking.entry(s.clone()).or_default().push(name.clone());
            }
        }
        let parts = Parts {
            oauth: raw.oauth,
            inject: &raw.inject,
            api: raw.api.as_ref().or(conn_api.as_ref()),
            api_at: if raw.api.is_some() {
                o_at.at("api")
            } else {
                at.at("api")
            },
            needs_rule,
            host_rules: &raw.host_validation,
            host_rules_at: o_at.at("hostValidation"),
        };
        let Some(mut option) = shape(Some(name.clone()), schema, parts, permissions, &o_at, p)
        else {
            continue;
        };
        if p.len() > before {
            continue;
        }
        option.kind = kind;
        option.title = Some(raw.title);
        option.help_url = help_url;
        out.push(option);
    }
    for (setting, options) in lacking {
        p.push(
            Pointer::root().at("permissions").at("secrets").at(&setting),
            format!(
                "grants inject but the shared setting \"{setting}\" has no rule in the \
                 \"inject\" of auth option {}: each option says where its credentials may go",
                options
                    .iter()
                    .map(|o| format!("`{o}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    // A secret granted inject that no option declares has nowhere to go.
    for name in &permissions.injectable_secrets {
        if !named.contains(name) {
            p.push(
                Pointer::root().at("permissions").at("secrets").at(name),
                format!("grants inject but no auth option declares the setting \"{name}\""),
            );
        }
    }
    out
}

/// One shape's blocks, as the manifest wrote them.
struct Parts<'a> {
    oauth: Option<RawOAuth>,
    inject: &'a BTreeMap<String, Vec<RawInjectRule>>,
    api: Option<&'a RawApi>,
    api_at: Pointer,
    /// Secret settings granted inject that must have rules in this shape.
    needs_rule: BTreeSet<String>,
    /// The shape's own `hostValidation` (one without an OAuth block), and where it sits.
    host_rules: &'a BTreeMap<String, RawHostRule>,
    host_rules_at: Pointer,
}

/// The OAuth block, injection rules and API of one shape, checked against its settings.
fn shape(
    name: Option<String>,
    settings: SettingsSchema,
    parts: Parts<'_>,
    permissions: &Permissions,
    at: &Pointer,
    p: &mut Problems,
) -> Option<AuthOption> {
    let before = p.len();
    let mut raw_oauth = parts.oauth;
    // A catalog provider fills what the OAuth block leaves out, before anything reads it.
    let preset = raw_oauth
        .as_mut()
        .map(|o| preset::apply(o, Some(&settings), &at.at("oauth"), p));
    // Names with a hostValidation rule, even if the OAuth block has other problems. A
    // shape with an OAuth block keeps its rules there: one place to look.
    if raw_oauth.is_some() && !parts.host_rules.is_empty() {
        p.push(
            &parts.host_rules_at,
            "with an OAuth block, hostValidation rules go in it: move them into \
             oauth.hostValidation",
        );
    }
    let host_rule_names: BTreeSet<String> = match &raw_oauth {
        Some(o) => o.host_validation.keys().cloned().collect(),
        None => parts.host_rules.keys().cloned().collect(),
    };
    let own_rules = if raw_oauth.is_none() {
        host_rules(parts.host_rules, Some(&settings), &parts.host_rules_at, p)
    } else {
        BTreeMap::new()
    };
    let oauth = raw_oauth.map(|o| match preset {
        // The provider's problem is reported; the block is not judged on top of it.
        Some(Err(())) => None,
        used => oauth(
            o,
            used.and_then(Result::ok).flatten(),
            Some(&settings),
            &permissions.injectable_secrets,
            &at.at("oauth"),
            p,
        ),
    });
    let oauth_ref = oauth.as_ref().and_then(Option::as_ref);
    let required: BTreeSet<&str> = oauth_ref
        .map(|o| o.required_settings.iter().map(String::as_str).collect())
        .unwrap_or_default();
    // With an OAuth block its rules (none while the block has problems), else the shape's.
    let env = TemplateEnv {
        settings: Some(&settings),
        required_settings: &required,
        host_rule_names: host_rule_names.iter().map(String::as_str).collect(),
        host_rules: oauth_ref.map_or(&own_rules, |o| &o.host_validation),
        host_validation_at: if oauth.is_some() {
            at.at("oauth").at("hostValidation")
        } else {
            parts.host_rules_at.clone()
        },
    };
    let inject = inject::named_rules(
        inject::Family::Secrets,
        parts.inject,
        &permissions.injectable_secrets,
        &parts.needs_rule,
        &permissions.injectable_secrets,
        &env,
        &at.at(inject::Family::Secrets.place()),
        p,
    );
    let api = parts
        .api
        .and_then(|a| api(a, &parts.api_at, &env, permissions, oauth_ref.is_some(), p));
    if p.len() > before {
        return None;
    }
    let oauth = oauth.flatten();
    let host_validation = match &oauth {
        Some(o) => o.host_validation.clone(),
        None => own_rules,
    };
    Some(AuthOption {
        name,
        kind: None,
        title: None,
        help_url: None,
        settings_schema: settings,
        oauth,
        inject,
        api,
        host_validation,
    })
}

fn check_name(name: &str, at: &Pointer, p: &mut Problems) {
    let ok = name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        p.push(
            at,
            format!(
                "auth option name \"{name}\" must start with a letter and hold only letters, \
                 digits, \"_\" and \"-\" (at most {MAX_NAME})"
            ),
        );
    }
}

/// The option's kind, checked against the OAuth block it holds.
fn kind_of(raw: &RawAuthOption, at: &Pointer, p: &mut Problems) -> Option<AuthKind> {
    let flow = raw.oauth.as_ref().map(|o| match o.flow {
        crate::manifest::raw::RawOAuthFlow::AuthorizationCode => OAuthFlow::AuthorizationCode,
        crate::manifest::raw::RawOAuthFlow::ClientCredentials => OAuthFlow::ClientCredentials,
    });
    let (kind, wanted) = match raw.kind {
        RawAuthKind::ApiKey => (AuthKind::ApiKey, None),
        RawAuthKind::Basic => (AuthKind::Basic, None),
        RawAuthKind::Oauth => (AuthKind::OAuth, Some(OAuthFlow::AuthorizationCode)),
        RawAuthKind::ClientCredentials => (
            AuthKind::ClientCredentials,
            Some(OAuthFlow::ClientCredentials),
        ),
    };
    let t = kind.as_str();
    match (wanted, flow) {
        (None, Some(_)) => p.push(
            at.at("oauth"),
            format!("an option of type \"{t}\" takes no OAuth block; use type \"oauth\" or \"clientCredentials\""),
        ),
        (Some(w), None) => p.push(
            at,
            format!(
                "an option of type \"{t}\" needs an \"oauth\" block with \"type\": \"{}\"",
                flow_name(w)
            ),
        ),
        (Some(w), Some(f)) if w != f => p.push(
            at.at("oauth").at("type"),
            format!(
                "an option of type \"{t}\" needs \"type\": \"{}\" here",
                flow_name(w)
            ),
        ),
        _ => return Some(kind),
    }
    None
}

fn flow_name(flow: OAuthFlow) -> &'static str {
    match flow {
        OAuthFlow::AuthorizationCode => "authorization_code",
        OAuthFlow::ClientCredentials => "client_credentials",
    }
}
