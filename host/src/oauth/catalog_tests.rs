//! Every provider of the catalog, through the host's real flow code: a manifest that
//! says only `"provider": "<key>"` validates, resolves for a connection, and its
//! authorization request shows the entry's facts applied (scope separator, extra
//! parameters, `access_type`, a PKCE challenge exactly when the entry documents PKCE, the
//! endpoint's host); its token requests use the entry's client auth method. A manifest
//! that sets a field itself keeps its value.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use url::Url;

use super::authorize::begin_authorization;
use super::client::auth_type;
use super::provider::ProviderConfig;
use super::resolve::configure;
use crate::manifest::{self, Connector};
use crate::providers::{self, ClientAuth, Provider};
use crate::store::connections::tests::new_conn;
use crate::store::{ConnectionRecord, MasterKey, Store};

/// A manifest whose OAuth block names `entry` and declares the settings it needs.
fn manifest_for(entry: &Provider, oauth_extra: Value) -> Connector {
    let mut properties = Map::new();
    for name in entry.settings.keys() {
        properties.insert(name.clone(), json!({ "type": "string" }));
    }
    let mut oauth = json!({
        "type": "authorization_code",
        "provider": entry.key,
        "scopes": ["alpha", "beta"],
        "client": { "credentialKey": "app" }
    });
    if let (Some(o), Value::Object(extra)) = (oauth.as_object_mut(), oauth_extra) {
        o.extend(extra);
    }
    let doc = json!({
        "key": "acme",
        "name": "Acme",
        "provider": "acme",
        "kind": "source",
        "version": "0.1.0",
        "connection": {
            "settingsSchema": { "type": "object", "properties": properties },
            "oauth": oauth
        }
    });
    manifest::parse_str(&doc.to_string(), "connector.json")
        .unwrap_or_else(|e| panic!("{}: {e}", entry.key))
}

/// The configuration a connection with a sample value for each setting resolves to.
fn config_for(entry: &Provider, connector: &Connector) -> ProviderConfig {
    let raw: Map<String, Value> = entry
        .settings
        .iter()
        .map(|(name, s)| {
            let host = format!("acme{}", s.host_validation.suffix);
            (name.clone(), Value::String(host))
        })
        .collect();
    let settings = connector
        .validate_settings(&raw)
        .unwrap_or_else(|e| panic!("{}: {e:?}", entry.key));
    let oauth = connector.oauth().expect("an OAuth block");
    configure(connector.key(), oauth, &settings, None)
        .unwrap_or_else(|e| panic!("{}: {e}", entry.key))
}

/// A template of the entry with the sample settings in place.
fn expanded(entry: &Provider, template: &str) -> String {
    entry
        .settings
        .iter()
        .fold(template.to_owned(), |t, (name, s)| {
            t.replace(
                &format!("{{settings.{name}}}"),
                &format!("acme{}", s.host_validation.suffix),
            )
        })
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    connection: ConnectionRecord,
    redirect: Url,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_with_key(dir.path(), &MasterKey::generate()).expect("store");
    let connection = store.create_connection(&new_conn("a")).expect("connection");
    Fixture {
        _dir: dir,
        store,
        connection,
        redirect: Url::parse("http://127.0.0.1:8123/callback").expect("url"),
    }
}

fn query(url: &Url) -> BTreeMap<String, String> {
    url.query_pairs().into_owned().collect()
}

#[test]
fn every_entry_shapes_the_authorization_and_token_requests() {
    let f = fixture();
    let mut failures = Vec::new();
    for entry in providers::all() {
        let connector = manifest_for(entry, json!({}));
        let oauth = connector.oauth().expect("an OAuth block");
        let used = oauth.preset.as_ref().expect("a preset use");
        assert_eq!(used.provider, entry.key);
        assert_eq!(used.docs, entry.docs);
        let config = config_for(entry, &connector);
        let req = begin_authorization(&f.store, &config, "cid", &f.connection, &f.redirect, None)
            .unwrap_or_else(|e| panic!("{}: {e}", entry.key));
        let q = query(&req.url);
        let mut check = |ok: bool, what: String| {
            if !ok {
                failures.push(format!("{}: {what}", entry.key));
            }
        };
        let sep = entry.separator();
        check(
            q.get("scope") == Some(&format!("alpha{sep}beta")),
            format!("scope {:?}", q.get("scope")),
        );
        for (k, v) in &entry.extra_authorize_params {
            check(q.get(k) == Some(v), format!("{k} is {:?}", q.get(k)));
        }
        check(
            (q.get("access_type").map(String::as_str))
                == entry.access_type.map(providers::AccessType::as_str),
            format!("access_type {:?}", q.get("access_type")),
        );
        check(
            q.contains_key("code_challenge") == entry.pkce
                && (q.get("code_challenge_method").map(String::as_str)
                    == entry.pkce.then_some("S256")),
            format!(
                "pkce {}, challenge {:?}",
                entry.pkce,
                q.get("code_challenge")
            ),
        );
        let mut expected_auth = Url::parse(&expanded(entry, &entry.authorization_url))
            .unwrap_or_else(|e| panic!("{}: {e}", entry.key));
        let mut got = req.url.clone();
        got.set_query(None);
        expected_auth.set_query(None);
        check(got == expected_auth, format!("authorization URL {got}"));
        check(
            config.token_url.as_str() == expanded(entry, &entry.token_url),
            format!("token URL {}", config.token_url),
        );
        check(
            config.revocation_url.as_ref().map(Url::to_string)
                == entry.revocation_url.as_ref().map(|r| expanded(entry, r)),
            format!("revocation URL {:?}", config.revocation_url),
        );
        let auth = auth_type(&config);
        check(
            match entry.client_auth_method {
                ClientAuth::Basic => matches!(auth, oauth2::AuthType::BasicAuth),
                ClientAuth::Post => matches!(auth, oauth2::AuthType::RequestBody),
            },
            format!("client auth {auth:?}"),
        );
        check(
            config.refresh_enabled == entry.refresh.issued,
            format!("refresh enabled {}", config.refresh_enabled),
        );
        check(
            oauth.issuer_url.as_ref().map(ToString::to_string) == entry.issuer,
            format!("issuer {:?}", oauth.issuer_url),
        );
        for (name, s) in &entry.settings {
            check(
                oauth.host_validation.contains_key(name) && oauth.required_settings.contains(name),
                format!(
                    "setting {name} ({}) has no rule or is not required",
                    s.description
                ),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn what_the_manifest_sets_is_kept() {
    let google = providers::find("google").expect("google");
    let connector = manifest_for(
        google,
        json!({
            "tokenUrlTemplate": "https://oauth2.example.test/token",
            "scopeSeparator": ",",
            "pkce": false,
            "extraAuthorizeParams": { "prompt": "select_account" },
            "client": { "credentialKey": "app", "authMethod": "basic" },
            "refresh": { "enabled": false }
        }),
    );
    let oauth = connector.oauth().expect("an OAuth block");
    let config = config_for(google, &connector);
    assert_eq!(
        config.token_url.as_str(),
        "https://oauth2.example.test/token"
    );
    assert_eq!(config.scope_separator, ",");
    assert!(!config.pkce);
    assert!(matches!(auth_type(&config), oauth2::AuthType::BasicAuth));
    assert!(!config.refresh_enabled);
    // Filled from the catalog: what the manifest left out.
    assert!(config.access_type_offline);
    assert_eq!(
        config.authorization_url.as_ref().map(Url::as_str),
        Some(google.authorization_url.as_str())
    );
    let filled: Vec<&str> = oauth
        .preset
        .as_ref()
        .expect("a preset use")
        .filled
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    for kept in [
        "tokenUrlTemplate",
        "scopeSeparator",
        "pkce",
        "extraAuthorizeParams.prompt",
        "client.authMethod",
        "refresh.enabled",
    ] {
        assert!(
            !filled.contains(&kept),
            "{kept} was overwritten: {filled:?}"
        );
    }
    for taken in ["authorizationUrlTemplate", "accessType", "issuerUrl"] {
        assert!(
            filled.contains(&taken),
            "{taken} was not filled: {filled:?}"
        );
    }
    let f = fixture();
    let req = begin_authorization(&f.store, &config, "cid", &f.connection, &f.redirect, None)
        .expect("authorization");
    let q = query(&req.url);
    assert_eq!(q["prompt"], "select_account");
    assert_eq!(q["scope"], "alpha,beta");
    assert!(!q.contains_key("code_challenge"));
}

#[test]
fn a_provider_under_client_credentials_fills_no_authorization_step() {
    let hubspot = providers::find("hubspot").expect("hubspot");
    let doc = json!({
        "key": "acme", "name": "Acme", "provider": "acme", "kind": "source", "version": "0.1.0",
        "connection": { "oauth": {
            "type": "client_credentials", "provider": "hubspot", "client": { "credentialKey": "app" }
        } }
    });
    let connector = manifest::parse_str(&doc.to_string(), "connector.json").expect("valid");
    let oauth = connector.oauth().expect("an OAuth block");
    assert!(oauth.authorization_url.is_none());
    assert_eq!(
        oauth.token_url.as_ref().map(ToString::to_string).as_deref(),
        Some(hubspot.token_url.as_str())
    );
}
