//! The files of a new connector crate: the templates (`*.tmpl` beside this file) and
//! what fills them, from a catalog provider (`crate::providers`) or placeholders.
//!
//! Owns: `files` and the template values. Must not: write anything (`new.rs` does).

use serde_json::{Value, json};

use super::display_name;
use crate::providers::Provider;

const CARGO_TOML: &str = include_str!("cargo.toml.tmpl");
const LIB_RS: &str = include_str!("lib.rs.tmpl");
const MANIFEST: &str = include_str!("connector.json.tmpl");
const TESTS: &str = include_str!("tests.rs.tmpl");

/// What a new connector starts from: a catalog provider, or endpoints under `example`
/// hosts named after its key, to be replaced with the provider's.
struct Start<'a> {
    provider: Option<&'a Provider>,
    scopes: Vec<String>,
    api: String,
    account_url: String,
    account_id: String,
    account_name: String,
}

impl<'a> Start<'a> {
    fn new(key: &str, provider: Option<&'a Provider>) -> Start<'a> {
        match provider.and_then(|p| Some((p, p.api.as_ref()?, p.account.as_ref()?))) {
            Some((p, api, account)) => Start {
                provider: Some(p),
                scopes: p.default_scopes.clone(),
                api: api.clone(),
                account_url: account.url.clone(),
                account_id: account.id.clone(),
                account_name: account.name.clone(),
            },
            None => Start {
                provider: None,
                scopes: vec!["records.read".to_owned()],
                api: format!("https://api.{key}.example/v1"),
                account_url: format!("https://api.{key}.example/v1/me"),
                account_id: "id".to_owned(),
                account_name: "name".to_owned(),
            },
        }
    }
}

/// What differs between an OAuth and an API-key connector, as template values.
struct Credential {
    auth: String,
    permissions_secrets: String,
    connection: String,
    runtime: String,
    oauth_import: String,
    header: String,
    header_value: String,
    missing: String,
    missing_test: String,
}

/// The OAuth block of a new connector's manifest, as the template's indented text (its
/// members in the order a reader expects: grant, provider or endpoints, scopes, client,
/// rules). A catalog provider fills the endpoints and flow knobs (`keyway validate
/// --explain` lists them).
fn oauth_block(key: &str, s: &Start<'_>, http: &[String]) -> String {
    let mut members: Vec<(&str, Value)> = vec![("type", json!("authorization_code"))];
    match s.provider {
        Some(p) => members.push(("provider", json!(p.key))),
        None => {
            members.push((
                "authorizationUrlTemplate",
                json!(format!("https://auth.{key}.example/oauth/authorize")),
            ));
            members.push((
                "tokenUrlTemplate",
                json!(format!("https://auth.{key}.example/oauth/token")),
            ));
        }
    }
    members.push(("scopes", json!(s.scopes)));
    members.push(("client", json!({ "credentialKey": key })));
    let inject: Vec<Value> = http.iter().map(|u| json!({ "url": u })).collect();
    members.push(("inject", Value::Array(inject)));
    let lines: Vec<String> = members
        .iter()
        .map(|(name, value)| format!("      \"{name}\": {}", one_line(value)))
        .collect();
    format!(",\n    \"oauth\": {{\n{}\n    }}", lines.join(",\n"))
}

/// A JSON value on one line, with a space after each comma and colon.
fn one_line(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(one_line).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(members) => {
            let members: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), one_line(v)))
                .collect();
            format!("{{ {} }}", members.join(", "))
        }
        other => other.to_string(),
    }
}

/// The URLs a new connector may call: everything under the API's base, and the account
/// endpoint when it lives elsewhere.
fn http_patterns(p: &Start<'_>) -> Vec<String> {
    let api = format!("{}/*", p.api);
    let mut patterns = vec![api];
    if !p.account_url.starts_with(&format!("{}/", p.api)) {
        patterns.push(p.account_url.clone());
    }
    patterns
}

/// The files of the crate `key` (an API-key connector, or an OAuth one from a catalog
/// `provider` or placeholders), path relative to the crate and text.
pub fn files(key: &str, api_key: bool, provider: Option<&Provider>) -> Vec<(&'static str, String)> {
    let name = display_name(key);
    let canary = format!("{key}-canary-credential-7f3a");
    let start = Start::new(key, provider);
    let p = &start;
    let http = http_patterns(p);
    let c = credential(key, &canary, api_key, p, &http);
    let http_json = one_line(&json!(http));
    let docs = p
        .provider
        .map(|p| format!(" (OAuth: {})", p.docs))
        .unwrap_or_default();
    let provider = p.provider.map_or(key, |p| p.key.as_str());
    let fill = |template: &str| {
        template
            .replace("{{key}}", key)
            .replace("{{provider}}", provider)
            .replace("{{http}}", &http_json)
            .replace("{{api}}", &p.api)
            .replace("{{docs}}", &docs)
            .replace("{{account_url}}", &p.account_url)
            .replace("{{account_id}}", &p.account_id)
            .replace("{{account_name}}", &p.account_name)
            .replace("{{name}}", &name)
            .replace("{{auth}}", &c.auth)
            .replace("{{permissions_secrets}}", &c.permissions_secrets)
            .replace("{{connection}}", &c.connection)
            .replace("{{runtime}}", &c.runtime)
            .replace("{{oauth_import}}", &c.oauth_import)
            .replace("{{header}}", &c.header)
            .replace("{{header_value}}", &c.header_value)
            .replace("{{missing}}", &c.missing)
            .replace("{{missing_test}}", &c.missing_test)
    };
    vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        ("connector.json", fill(MANIFEST)),
        ("src/lib.rs", fill(LIB_RS)),
        ("tests/connector.rs", fill(TESTS)),
    ]
}

fn credential(
    key: &str,
    canary: &str,
    api_key: bool,
    p: &Start<'_>,
    http: &[String],
) -> Credential {
    let (
        auth,
        permissions_secrets,
        connection,
        runtime,
        oauth_import,
        header,
        header_value,
        missing,
        missing_test,
    ) = if api_key {
        (
            r#"HttpOptions::secret("api_key")"#.to_string(),
            r#",
    "secrets": { "api_key": ["inject"] }"#
                .to_string(),
            format!(
                r#",
    "settingsSchema": {{
      "type": "object",
      "properties": {{
        "api_key": {{ "type": "string", "title": "API key", "x-secret": true }}
      }}
    }},
    "inject": {{
      "api_key": [{{ "url": "{api}/*", "header": "X-Api-Key" }}]
    }}"#,
                api = p.api
            ),
            r#"TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .secret("api_key", CANARY)
        .build()
        .unwrap()"#
                .to_string(),
            String::new(),
            "x-api-key".to_string(),
            canary.to_string(),
            "a missing API key".to_string(),
            r#"#[test]
fn missing_api_key_is_named_without_a_request() {
    let rt = TestRuntime::builder(env!("CARGO_MANIFEST_DIR")).build().unwrap();
    let res = rt.test_connection().unwrap();
    assert_ne!(res.status, 200);
    assert!(res.text().contains("api_key"), "{}", res.text());
    assert!(rt.http().calls().is_empty());
}"#
            .to_string(),
        )
    } else {
        (
            "HttpOptions::oauth(60)".to_string(),
            String::new(),
            oauth_block(key, p, http),
            r#"TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .oauth(OAuthState::connected(CANARY).refresh_allowed(false))
        .build()
        .unwrap()"#
                .to_string(),
            ", OAuthState".to_string(),
            "authorization".to_string(),
            format!("Bearer {canary}"),
            "missing token, missing scope".to_string(),
            r#"#[test]
fn missing_token_is_reauth_required_without_a_request() {
    let rt = TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .oauth(OAuthState::none())
        .build()
        .unwrap();
    let res = rt.test_connection().unwrap();
    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(error_code(&res), "reauth_required");
    assert!(rt.http().calls().is_empty());
}

#[test]
fn missing_scope_is_reported_before_a_request() {
    let rt = TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .oauth(OAuthState::connected(CANARY).scopes(Vec::<String>::new()))
        .build()
        .unwrap();
    let res = rt.test_connection().unwrap();
    assert_eq!(error_code(&res), "missing_scopes", "{}", res.text());
    assert!(rt.http().calls().is_empty());
}"#
            .to_string(),
        )
    };
    Credential {
        auth,
        permissions_secrets,
        connection,
        runtime,
        oauth_import,
        header,
        header_value,
        missing,
        missing_test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers;

    #[test]
    fn the_generated_manifests_validate() {
        let mut cases: Vec<(bool, Option<&Provider>)> = vec![(false, None), (true, None)];
        cases.extend(
            providers::all()
                .iter()
                .filter(|p| p.has_preset())
                .map(|p| (false, Some(p))),
        );
        assert!(cases.len() >= 9, "the seven former presets and more");
        for (api_key, preset) in cases {
            let files = files("acme-crm", api_key, preset);
            let (_, manifest) = files
                .iter()
                .find(|(p, _)| *p == "connector.json")
                .expect("a manifest");
            let parsed = crate::manifest::parse_str(manifest, "connector.json");
            assert!(parsed.is_ok(), "{:?}", parsed.as_ref().err());
            for (path, text) in &files {
                assert!(!text.contains("{{"), "{path} keeps a placeholder");
            }
            if let Some(p) = preset {
                let (api, account) = (p.api.as_deref(), p.account.as_ref());
                let (Some(api), Some(account)) = (api, account) else {
                    panic!("{}: a preset has an api and an account", p.key);
                };
                let lib = &files
                    .iter()
                    .find(|(f, _)| *f == "src/lib.rs")
                    .expect("lib")
                    .1;
                assert!(lib.contains(&account.url) && lib.contains(api), "{}", p.key);
                assert!(lib.contains(&p.docs), "{}", p.key);
                assert!(manifest.contains(&format!("\"provider\": \"{}\"", p.key)));
                // The endpoints come from the catalog, filled at validation.
                assert!(!manifest.contains(&p.token_url), "{}", p.key);
                let Ok(connector) = parsed else { continue };
                let oauth = connector.oauth().expect("an OAuth block");
                assert_eq!(
                    oauth.token_url.as_ref().map(ToString::to_string).as_deref(),
                    Some(p.token_url.as_str()),
                    "{}",
                    p.key
                );
                assert_eq!(
                    oauth.preset.as_ref().map(|u| u.provider.as_str()),
                    Some(p.key.as_str())
                );
            }
        }
    }
}
