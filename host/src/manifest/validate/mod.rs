//! The meaning pass: raw manifest -> validated `Connector`, reporting every problem.
//!
//! This file walks the manifest's top level: key, name, provider, version, the settings
//! schema, permissions, `testConnection`, the secret injection rules, `streams` and
//! `webhooks` (`streams.rs`), then joins them into a `Connector`. How a connection
//! authenticates (the single shape or `authOptions`, each with its settings, OAuth block,
//! injection rules and API) is `auth.rs`'s; the OAuth block is `oauth.rs`'s (flow rules,
//! `hostValidation`, URL templates, client, token paths), its parameter lists `params.rs`'s (scopes, extra
//! authorize parameters, callback parameters); key, grants and routes are `grants.rs`'s,
//! injection rules `inject.rs`'s.
//!
//! Owns the cross-field rules: version format, OAuth flow rules, placeholders (declared,
//! required, never secret, host placeholders need a `hostValidation` rule), https-only
//! templates. Must not read files or JSON text (see `mod.rs` and `structure.rs`) and must
//! not stop at the first problem.

mod auth;
mod hooks;
mod host_rules;
mod oauth;
mod option_settings;
mod params;
mod preset;
mod streams;

use std::collections::{BTreeMap, BTreeSet};

use super::connector::{Connection, Connector, Kind};
use super::grants::{check_key, is_provider, permissions, route};
use super::inject::{self, TemplateEnv};
use super::problems::{Pointer, Problems};
use super::raw::{RawKind, RawManifest};
use super::settings::SettingsSchema;

pub(crate) fn validate(mut raw: RawManifest) -> Result<Connector, Problems> {
    let mut p = Problems::new();
    let root = Pointer::root();
    check_key(&raw.key, &root.at("key"), &mut p);
    if raw.name.trim().is_empty() {
        p.push(root.at("name"), "name must not be empty");
    }
    if !is_provider(&raw.provider) {
        p.push(
            root.at("provider"),
            format!(
                "provider \"{}\" must be lowercase letters, digits, \"_\" and \"-\"",
                raw.provider
            ),
        );
    }
    let version = semver::Version::parse(&raw.version)
        .map_err(|e| {
            p.push(
                root.at("version"),
                format!("\"{}\" is not a semantic version ({e})", raw.version),
            )
        })
        .ok();
    let conn_at = root.at("connection");
    let settings = SettingsSchema::compile(
        raw.connection.settings_schema.as_ref(),
        &conn_at.at("settingsSchema"),
        &mut p,
    );
    let grant_schema = match (&settings, raw.connection.auth_options.is_empty()) {
        (Some(_), false) => option_settings::grant_schema(&raw.connection),
        _ => None,
    };
    let permissions = permissions(
        &raw.permissions,
        grant_schema.as_ref().or(settings.as_ref()),
        &mut p,
    );
    let test_connection = raw
        .connection
        .test_connection
        .as_ref()
        .and_then(|r| route(r, &conn_at.at("testConnection"), &mut p));
    let app_inject_raw = std::mem::take(&mut raw.connection.app_inject);
    // The shared settings compiled again: the options own theirs.
    let shared = SettingsSchema::compile(
        raw.connection.settings_schema.as_ref(),
        &conn_at,
        &mut Problems::new(),
    );
    let auth = auth::options(raw.connection, settings, &permissions, &conn_at, &mut p);
    // App connections' rules see the shared settings; without options, also the single
    // shape's hostValidation rules and the OAuth block's required settings.
    let no_rules = BTreeMap::new();
    let single = auth.first().filter(|o| o.name.is_none());
    let single_oauth = single.and_then(|o| o.oauth.as_ref());
    let required: BTreeSet<&str> = single_oauth
        .map(|o| o.required_settings.iter().map(String::as_str).collect())
        .unwrap_or_default();
    // Its rules as validated, a catalog provider's included: the OAuth block's, or
    // `connection.hostValidation` without one.
    let single_host_rules: BTreeSet<&str> = single
        .map(|o| o.host_validation.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let env = TemplateEnv {
        settings: single.map(|o| &o.settings_schema).or(shared.as_ref()),
        required_settings: &required,
        host_rule_names: single_host_rules,
        host_rules: single.map_or(&no_rules, |o| &o.host_validation),
        host_validation_at: if single_oauth.is_some() {
            conn_at.at("oauth").at("hostValidation")
        } else {
            conn_at.at("hostValidation")
        },
    };
    let app_inject = inject::named_rules(
        inject::Family::AppConnections,
        &app_inject_raw,
        &permissions.injectable_apps,
        &permissions.injectable_apps,
        &permissions.injectable_secrets,
        &env,
        &conn_at.at(inject::Family::AppConnections.place()),
        &mut p,
    );
    let stream_list = streams::streams(&raw.streams, &permissions, &mut p);
    let webhook_list = streams::webhooks(
        &raw.webhooks,
        grant_schema.as_ref().or(shared.as_ref()),
        &mut p,
    );
    match version {
        Some(version) if p.is_empty() && !auth.is_empty() => Ok(Connector {
            key: raw.key,
            name: raw.name,
            provider: raw.provider,
            kind: match raw.kind {
                RawKind::Source => Kind::Source,
                RawKind::Destination => Kind::Destination,
            },
            version,
            permissions,
            connection: Connection {
                test_connection,
                app_inject,
                auth,
            },
            streams: stream_list,
            webhooks: webhook_list,
        }),
        _ => Err(p),
    }
}
