//! The meaning pass: raw manifest -> validated `Connector`, reporting every problem.
//!
//! This file walks the manifest's top level: key, name, provider, version, the settings
//! schema, permissions, `testConnection`, the secret injection rules, `streams` and
//! `webhooks` (`streams.rs`), then joins them into a `Connector`. The OAuth block is `oauth.rs`'s (flow rules, `hostValidation`, URL
//! templates, client, token paths), its parameter lists `params.rs`'s (scopes, extra
//! authorize parameters, callback parameters); key, grants and routes are `grants.rs`'s,
//! injection rules `inject.rs`'s.
//!
//! Owns the cross-field rules: version format, OAuth flow rules, placeholders (declared,
//! required, never secret, host placeholders need a `hostValidation` rule), https-only
//! templates. Must not read files or JSON text (see `mod.rs` and `structure.rs`) and must
//! not stop at the first problem.

mod oauth;
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
use oauth::oauth;

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
    let permissions = permissions(&raw.permissions, settings.as_ref(), &mut p);
    let test_connection = raw
        .connection
        .test_connection
        .as_ref()
        .and_then(|r| route(r, &conn_at.at("testConnection"), &mut p));
    // A catalog provider fills what the OAuth block leaves out, before anything reads it.
    let preset = raw
        .connection
        .oauth
        .as_mut()
        .map(|o| preset::apply(o, settings.as_ref(), &conn_at.at("oauth"), &mut p));
    // Names with a hostValidation rule, even if the OAuth block has other problems.
    let host_rule_names: BTreeSet<String> = raw
        .connection
        .oauth
        .as_ref()
        .map(|o| o.host_validation.keys().cloned().collect())
        .unwrap_or_default();
    let oauth = raw.connection.oauth.map(|o| match preset {
        // The provider's problem is reported; the block is not judged on top of it.
        Some(Err(())) => None,
        used => oauth(
            o,
            used.and_then(Result::ok).flatten(),
            settings.as_ref(),
            &permissions.injectable_secrets,
            &conn_at.at("oauth"),
            &mut p,
        ),
    });
    let no_rules = BTreeMap::new();
    let oauth_ref = oauth.as_ref().and_then(Option::as_ref);
    let required: BTreeSet<&str> = oauth_ref
        .map(|o| o.required_settings.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let host_rules = oauth_ref.map_or(&no_rules, |o| &o.host_validation);
    let env = TemplateEnv {
        settings: settings.as_ref(),
        required_settings: &required,
        host_rule_names: host_rule_names.iter().map(String::as_str).collect(),
        host_rules,
        host_validation_at: conn_at.at("oauth").at("hostValidation"),
    };
    let secret_inject = inject::named_rules(
        inject::Family::Secrets,
        &raw.connection.inject,
        &permissions.injectable_secrets,
        &permissions.injectable_secrets,
        &env,
        &mut p,
    );
    let app_inject = inject::named_rules(
        inject::Family::AppConnections,
        &raw.connection.app_inject,
        &permissions.injectable_apps,
        &permissions.injectable_secrets,
        &env,
        &mut p,
    );
    let api = raw.connection.api.as_ref().and_then(|a| {
        super::api::api(
            a,
            &conn_at.at("api"),
            &env,
            &permissions,
            oauth_ref.is_some(),
            &mut p,
        )
    });
    let stream_list = streams::streams(&raw.streams, &permissions, &mut p);
    let webhook_list = streams::webhooks(&raw.webhooks, settings.as_ref(), &mut p);
    match (version, settings, oauth) {
        (Some(version), Some(settings_schema), oauth) if p.is_empty() => Ok(Connector {
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
                settings_schema,
                oauth: oauth.flatten(),
                inject: secret_inject,
                app_inject,
                api,
            },
            streams: stream_list,
            webhooks: webhook_list,
        }),
        _ => Err(p),
    }
}
