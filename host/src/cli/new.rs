//! `keyway new connector NAME [--oauth [--provider PRESET]|--api-key]`: a connector crate
//! that builds, validates and passes its tests as generated (with `--provider`, a catalog
//! entry that has an API base and an account endpoint (`crate::providers`): its OAuth
//! block names the provider, whose entry fills the endpoints and flow knobs, and the
//! scopes, API and account check are the entry's): `connector.json` (an OAuth or an API-key credential,
//! a `testConnection` route and an hourly `records` stream), `src/lib.rs` (the account
//! check and a paged sync using the SDK's `ProviderFailure`, `SyncOptions` and `Tally`,
//! checkpointing in a stream run) and `tests/connector.rs` (the release checklist).
//!
//! The crate is written whole beside the connectors directory and moved in at the end,
//! so a failure never leaves a half-made crate that would break every cargo command of the
//! workspace; then, in a workspace, `cargo update --workspace --offline` enters it (and
//! nothing else) in `Cargo.lock`,
//! so `scripts/build-connectors` (which builds `--locked`) takes it at once, and `cargo
//! fmt` formats it as CI's `cargo fmt --check` wants.
//!
//! Owns: the templates (`new/*.tmpl`) and what fills them.
//! Must not: overwrite anything (an existing directory is refused).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::providers::{self, Provider};

const CARGO_TOML: &str = include_str!("new/cargo.toml.tmpl");
const LIB_RS: &str = include_str!("new/lib.rs.tmpl");
const MANIFEST: &str = include_str!("new/connector.json.tmpl");
const TESTS: &str = include_str!("new/tests.rs.tmpl");

#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// A new connector crate, ready to build, validate and test.
    Connector(NewConnectorArgs),
}

#[derive(Debug, Args)]
pub struct NewConnectorArgs {
    /// The connector's key, also its crate and directory name: lowercase letters and
    /// digits in words joined by single hyphens (for example `acme-crm`).
    pub name: String,
    /// The credential is an API key the host injects (default: OAuth 2.0 authorization
    /// code).
    #[arg(long, conflicts_with = "oauth")]
    pub api_key: bool,
    /// The credential is an OAuth 2.0 grant the host keeps and injects (the default).
    #[arg(long)]
    pub oauth: bool,
    /// Start from a catalog provider (`keyway providers list`, those marked as presets):
    /// its OAuth block names the provider, and the scopes, API and account check are the
    /// provider's instead of placeholders (OAuth only).
    #[arg(long, value_name = "PROVIDER", conflicts_with = "api_key", value_parser = preset_key)]
    pub provider: Option<String>,
    /// Where connector directories live.
    #[arg(long, default_value = "connectors")]
    pub dir: PathBuf,
}

/// `--provider`: a catalog key whose entry can start a connector.
fn preset_key(name: &str) -> Result<String, String> {
    match providers::find(name) {
        Some(p) if p.has_preset() => Ok(p.key.clone()),
        Some(p) => Err(format!(
            "`{}` has no API base and account endpoint in the catalog to start from; presets: {}",
            p.key,
            preset_keys().join(", ")
        )),
        None => Err(format!(
            "no provider `{name}` in the catalog{}; presets: {}",
            providers::unknown_key_hint(name),
            preset_keys().join(", ")
        )),
    }
}

/// The keys `--provider` takes.
fn preset_keys() -> Vec<&'static str> {
    providers::all()
        .iter()
        .filter(|p| p.has_preset())
        .map(|p| p.key.as_str())
        .collect()
}

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

/// A key: lowercase letters and digits in words joined by single hyphens, 1 to 64 bytes.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && key.as_bytes()[0].is_ascii_lowercase()
}

/// `acme-crm` -> `Acme Crm`.
fn display_name(key: &str) -> String {
    key.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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

/// A directory removed (with what it holds) when dropped.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The workspace root above `dir` (a `Cargo.toml` with a `[workspace]` table), if any.
fn workspace_of(dir: &Path) -> Option<PathBuf> {
    let abs = dir.canonicalize().ok()?;
    abs.ancestors()
        .find(|a| {
            std::fs::read_to_string(a.join("Cargo.toml"))
                .map(|t| t.lines().any(|l| l.trim() == "[workspace]"))
                .unwrap_or(false)
        })
        .map(Path::to_path_buf)
}

pub fn run(command: NewCommand) -> anyhow::Result<ExitCode> {
    let NewCommand::Connector(args) = command;
    if !valid_key(&args.name) {
        bail!(
            "`{}` is not a connector key: use lowercase letters and digits in words joined by \
             single hyphens, starting with a letter (for example `acme-crm`)",
            args.name
        );
    }
    let target = args.dir.join(&args.name);
    if target.exists() {
        bail!(
            "{} already exists; choose another name or remove it",
            target.display()
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    // Written whole outside the connectors directory (which the workspace reads as
    // members), then moved in with one rename; removed whatever happens.
    let parent = match args.dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = Staging(parent.join(format!(".keyway-new-{}-{}", args.name, std::process::id())));
    std::fs::create_dir(&staging.0)
        .with_context(|| format!("creating the staging directory {}", staging.0.display()))?;
    let crate_dir = staging.0.join(&args.name);
    let preset = args.provider.as_deref().and_then(providers::find);
    for (rel, text) in files(&args.name, args.api_key, preset) {
        let path = crate_dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    std::fs::rename(&crate_dir, &target)
        .with_context(|| format!("moving the new crate to {}", target.display()))?;
    println!("created {}", target.display());
    match workspace_of(&target) {
        Some(root) => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let entered = Command::new(&cargo)
                .current_dir(&root)
                .args(["update", "--workspace", "--offline", "--quiet"])
                .status();
            // Formatted as `cargo fmt --check` (CI) wants it, whatever the name's length.
            let formatted = Command::new(&cargo)
                .current_dir(&root)
                .args(["fmt", "-p", &args.name])
                .status();
            if !matches!(formatted, Ok(s) if s.success()) {
                println!(
                    "could not run `cargo fmt -p {}`; run it before committing",
                    args.name
                );
            }
            match entered {
                Ok(s) if s.success() => println!("entered `{}` in Cargo.lock", args.name),
                _ => println!(
                    "could not enter `{}` in Cargo.lock; run `cargo update --workspace \
                     --offline` at {} before `scripts/build-connectors`",
                    args.name,
                    root.display()
                ),
            }
        }
        None => println!(
            "{} is not in a cargo workspace: the crate's `workspace = true` fields need one \
             (this repository's, whose members include connectors/*)",
            target.display()
        ),
    }
    println!(
        "next: scripts/build-connectors, then `keyway validate {}` and `cargo test -p {}`",
        target.display(),
        args.name
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_names() {
        assert!(valid_key("acme-crm"));
        assert!(valid_key("a2"));
        for bad in [
            "",
            "Acme",
            "acme--crm",
            "-acme",
            "acme-",
            "2acme",
            "acme_crm",
        ] {
            assert!(!valid_key(bad), "{bad}");
        }
        assert_eq!(display_name("acme-crm"), "Acme Crm");
    }

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

    #[test]
    fn provider_must_be_a_preset_of_the_catalog() {
        assert_eq!(preset_key("hubspot").as_deref(), Ok("hubspot"));
        let unknown = preset_key("hubspto").expect_err("unknown");
        assert!(unknown.contains("\"hubspot\""), "{unknown}");
        let no_api = preset_key("shopify").expect_err("templated, no preset");
        assert!(no_api.contains("no API base"), "{no_api}");
    }
}
