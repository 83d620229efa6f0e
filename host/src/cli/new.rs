//! `keyway new connector NAME [--oauth [--provider PRESET]|--api-key]`: a connector crate
//! that builds, validates and passes its tests as generated (with a preset, its endpoints,
//! scopes and account check are the provider's, `new/presets.rs`): `connector.json` (an OAuth or an API-key credential,
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
use serde_json::{Map, Value, json};

mod presets;
use presets::Preset;

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
    /// Start from a provider's endpoints, scopes and account check instead of
    /// placeholders (OAuth only).
    #[arg(long, value_name = "PRESET", conflicts_with = "api_key",
          value_parser = clap::builder::PossibleValuesParser::new(presets::KEYS))]
    pub provider: Option<String>,
    /// Where connector directories live.
    #[arg(long, default_value = "connectors")]
    pub dir: PathBuf,
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

/// The OAuth block of a new connector's manifest for `p`, as the template's indented text
/// (its members in the order a reader expects: grant, endpoints, scopes, client, rules).
fn oauth_block(key: &str, p: &Preset, http: &[String]) -> String {
    let mut members: Vec<(&str, Value)> = vec![("type", json!("authorization_code"))];
    if let Some(issuer) = p.issuer {
        members.push(("issuerUrl", json!(issuer)));
    }
    members.push(("authorizationUrlTemplate", json!(p.authorization_url)));
    members.push(("tokenUrlTemplate", json!(p.token_url)));
    if let Some(revoke) = p.revocation_url {
        members.push(("revocationUrlTemplate", json!(revoke)));
    }
    members.push(("scopes", json!(p.scopes)));
    if let Some(sep) = p.scope_separator {
        members.push(("scopeSeparator", json!(sep)));
    }
    if p.offline {
        members.push(("accessType", json!("offline")));
    }
    if !p.extra_authorize_params.is_empty() {
        let params: Map<String, Value> = p
            .extra_authorize_params
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        members.push(("extraAuthorizeParams", Value::Object(params)));
    }
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
fn http_patterns(p: &Preset) -> Vec<String> {
    let api = format!("{}/*", p.api);
    let mut patterns = vec![api];
    if !p.account_url.starts_with(&format!("{}/", p.api)) {
        patterns.push(p.account_url.clone());
    }
    patterns
}

/// The files of the crate `key` (an API-key connector, or an OAuth one from `preset` or
/// placeholders), path relative to the crate and text.
pub fn files(key: &str, api_key: bool, preset: Option<&Preset>) -> Vec<(&'static str, String)> {
    let name = display_name(key);
    let canary = format!("{key}-canary-credential-7f3a");
    let generic = presets::generic(key);
    let p = preset.unwrap_or(&generic);
    let http = http_patterns(p);
    let c = credential(key, &canary, api_key, p, &http);
    let http_json = one_line(&json!(http));
    let docs = if p.docs.is_empty() {
        String::new()
    } else {
        format!(" (OAuth: {})", p.docs)
    };
    let provider = if p.key.is_empty() { key } else { p.key };
    let fill = |template: &str| {
        template
            .replace("{{key}}", key)
            .replace("{{provider}}", provider)
            .replace("{{http}}", &http_json)
            .replace("{{api}}", &p.api)
            .replace("{{docs}}", &docs)
            .replace("{{account_url}}", &p.account_url)
            .replace("{{account_id}}", p.account_id)
            .replace("{{account_name}}", p.account_name)
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

fn credential(key: &str, canary: &str, api_key: bool, p: &Preset, http: &[String]) -> Credential {
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
    let preset = args.provider.as_deref().and_then(presets::find);
    for (rel, text) in files(&args.name, args.api_key, preset.as_ref()) {
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
        let mut cases: Vec<(bool, Option<Preset>)> = vec![(false, None), (true, None)];
        cases.extend(presets::all().into_iter().map(|p| (false, Some(p))));
        for (api_key, preset) in cases {
            let files = files("acme-crm", api_key, preset.as_ref());
            let (_, manifest) = files
                .iter()
                .find(|(p, _)| *p == "connector.json")
                .expect("a manifest");
            let parsed = crate::manifest::parse_str(manifest, "connector.json");
            assert!(parsed.is_ok(), "{:?}", parsed.err());
            for (path, text) in &files {
                assert!(!text.contains("{{"), "{path} keeps a placeholder");
            }
            if let Some(p) = &preset {
                let lib = &files
                    .iter()
                    .find(|(f, _)| *f == "src/lib.rs")
                    .expect("lib")
                    .1;
                assert!(
                    lib.contains(&p.account_url) && lib.contains(&p.api),
                    "{}",
                    p.key
                );
                assert!(manifest.contains(&p.token_url), "{}", p.key);
                assert!(manifest.contains(&format!("\"provider\": \"{}\"", p.key)));
            }
        }
    }
}
