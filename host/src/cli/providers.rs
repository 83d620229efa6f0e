//! `keyway providers list [--json]` and `keyway providers show NAME [--json]`: the
//! provider catalog a manifest names with `connection.oauth.provider`.
//!
//! Owns the commands' arguments and output: `list` one line per provider (key, name,
//! client auth method, PKCE, refresh, scope separator, settings, docs), `show` every
//! field of one entry and the OAuth block that uses it; `--json` prints the entry as the
//! catalog holds it. Must not: change anything (the catalog is compiled in), or hold the
//! catalog's facts (`crate::providers` does).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Serialize;

use crate::providers::{self, Provider};

#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// Every provider of the catalog: key, name, how the flow goes, docs.
    List {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Everything the catalog holds about one provider.
    Show {
        /// The provider's key, as `keyway providers list` shows it.
        name: String,
        /// Print the entry as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// One provider in `list --json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSummary<'a> {
    pub key: &'a str,
    pub name: &'a str,
    pub client_auth_method: &'static str,
    pub pkce: bool,
    pub refresh_tokens: bool,
    pub scope_separator: &'a str,
    /// Settings the entry's URL templates need (for example a tenant's host).
    pub settings: Vec<&'a str>,
    /// Whether `keyway new connector --provider` can start from it.
    pub preset: bool,
    pub docs: &'a str,
}

fn summary(p: &Provider) -> ProviderSummary<'_> {
    ProviderSummary {
        key: &p.key,
        name: &p.name,
        client_auth_method: p.client_auth_method.as_str(),
        pkce: p.pkce,
        refresh_tokens: p.refresh.issued,
        scope_separator: p.separator(),
        settings: p.settings.keys().map(String::as_str).collect(),
        preset: p.has_preset(),
        docs: &p.docs,
    }
}

/// The text of `keyway providers list`: a header and one aligned line per provider.
pub fn list_lines() -> Vec<String> {
    let rows: Vec<[String; 7]> = providers::all()
        .iter()
        .map(|p| {
            [
                p.key.clone(),
                p.name.clone(),
                p.client_auth_method.as_str().to_owned(),
                if p.pkce { "pkce" } else { "-" }.to_owned(),
                if p.refresh.issued { "refresh" } else { "-" }.to_owned(),
                if p.settings.is_empty() {
                    "-".to_owned()
                } else {
                    p.settings
                        .keys()
                        .map(|s| format!("{{{s}}}"))
                        .collect::<Vec<_>>()
                        .join(",")
                },
                p.docs.clone(),
            ]
        })
        .collect();
    let header = [
        "KEY", "NAME", "CLIENT", "PKCE", "REFRESH", "SETTINGS", "DOCS",
    ]
    .map(str::to_owned);
    let mut widths = [0usize; 7];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
                }
            }
            line
        })
        .collect()
}

/// The entry `name` (its key, in any case), or an error naming the closest keys.
pub fn find(name: &str) -> anyhow::Result<&'static Provider> {
    match providers::find(&name.to_ascii_lowercase()) {
        Some(p) => Ok(p),
        None => bail!(
            "no provider `{name}` in the catalog{}",
            providers::unknown_key_hint(name)
        ),
    }
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not documented",
    }
}

/// The text of `keyway providers show`.
pub fn show_lines(p: &Provider) -> Vec<String> {
    let mut out = vec![
        format!("{} ({})", p.name, p.key),
        format!("docs: {}", p.docs),
        format!("authorizationUrl: {}", p.authorization_url),
        format!("tokenUrl: {}", p.token_url),
    ];
    if let Some(r) = &p.revocation_url {
        out.push(format!("revocationUrl: {r}"));
    }
    if let Some(i) = &p.issuer {
        out.push(format!("issuer: {i}"));
    }
    out.push(format!("scopeSeparator: {:?}", p.separator()));
    out.push(format!(
        "clientAuthMethod: {}",
        p.client_auth_method.as_str()
    ));
    out.push(format!("pkce: {}", p.pkce));
    if let Some(a) = p.access_type {
        out.push(format!("accessType: {}", a.as_str()));
    }
    for (k, v) in &p.extra_authorize_params {
        out.push(format!("extraAuthorizeParams.{k}: {v}"));
    }
    if let Some(token) = &p.token {
        for (field, path) in token.set() {
            out.push(format!("token.{field}: {path}"));
        }
    }
    out.push(format!(
        "refresh: tokens issued: {}; rotate: {}; left out of a refresh answer: {}",
        if p.refresh.issued { "yes" } else { "no" },
        yes_no(p.refresh.rotates),
        yes_no(p.refresh.omitted_on_refresh)
    ));
    out.push(format!(
        "defaultScopes: {}",
        if p.default_scopes.is_empty() {
            "(none)".to_owned()
        } else {
            p.default_scopes.join(" ")
        }
    ));
    if let Some(api) = &p.api {
        out.push(format!("api: {api}"));
    }
    if let Some(a) = &p.account {
        out.push(format!(
            "account: {} (id: {}, name: {})",
            a.url, a.id, a.name
        ));
    }
    for (name, s) in &p.settings {
        let normalize = s
            .host_validation
            .normalize
            .map(|n| format!(", {}", n.as_str()))
            .unwrap_or_default();
        out.push(format!(
            "settings.{name}: {} (hostValidation: suffix {}{normalize})",
            s.description, s.host_validation.suffix
        ));
    }
    for quirk in &p.quirks {
        out.push(format!("quirk: {quirk}"));
    }
    out.push(format!(
        "use: \"oauth\": {{ \"type\": \"authorization_code\", \"provider\": \"{}\", \"scopes\": [...], \"client\": {{ \"credentialKey\": \"...\" }} }}",
        p.key
    ));
    out
}

pub fn run(command: &ProvidersCommand) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let text = match command {
        ProvidersCommand::List { json: true } => {
            let all: Vec<ProviderSummary<'_>> = providers::all().iter().map(summary).collect();
            serde_json::to_string_pretty(&all).context("rendering the list as JSON")?
        }
        ProvidersCommand::List { json: false } => list_lines().join("\n"),
        ProvidersCommand::Show { name, json } => {
            let p = find(name)?;
            if *json {
                serde_json::to_string_pretty(p).context("rendering the entry as JSON")?
            } else {
                show_lines(p).join("\n")
            }
        }
    };
    writeln!(out, "{text}").context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}
