//! `keyway connections`: create, update, authorize, list, show, test, revoke and delete
//! connections; a thin adapter over the connection use cases of [`crate::services`].
//!
//! Owns: the operator's lifecycle commands, reading secret settings from the environment
//! or stdin, and their output (`--json` prints the services' views).
//! Must not: take a secret from argv, print a token or secret, or validate settings itself.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use secrecy::SecretString;

use super::CliError;
use super::credentials::read_secret_from_env;
use crate::catalog::Lookup;
use crate::oauth::callback::CallbackListener;
use crate::oauth::{AuthorizationOutcome, ProviderRevocation};
use crate::services::views::ConnectionView;
use crate::services::{
    AuthorizationStart, Expected, NewConnectionInput, PlainValue, ServiceError, Services,
    SettingsInput,
};

/// `keyway connections`: the subcommand and the options all of them share.
#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    /// Let OAuth requests and routes reach this CIDR despite the private-address block
    /// (an authorization server on this machine, for example 127.0.0.1/32). Repeatable.
    #[arg(long = "allow-cidr", value_name = "CIDR", global = true)]
    pub allow_cidrs: Vec<String>,
    #[command(subcommand)]
    pub command: ConnectionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Create a connection (validated settings; status `pending_authorization`).
    Create(CreateArgs),
    /// Change settings of a connection (each one given replaces the stored one).
    Update(UpdateArgs),
    /// Authorize a connection (browser flow on a loopback callback, or client credentials).
    Authorize(AuthorizeArgs),
    /// List connections with status, token expiry, last refresh and last error.
    List {
        /// Print JSON (the API's shape) instead of text lines.
        #[arg(long)]
        json: bool,
    },
    /// Run the manifest's testConnection route for a connection.
    Test { name: String },
    /// Show one connection.
    Show {
        name: String,
        /// Print JSON (the API's shape) instead of text lines.
        #[arg(long)]
        json: bool,
    },
    /// Revoke at the provider (if it has a revocation endpoint) and delete the tokens.
    Revoke { name: String },
    /// Delete a connection with its tokens and settings.
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    pub name: String,
    /// Connector directory or key.
    #[arg(long)]
    pub connector: String,
    /// The connector's auth option (`connection.authOptions`), when it offers several;
    /// `keyway connectors list` shows them.
    #[arg(long, value_name = "NAME")]
    pub auth_option: Option<String>,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub name: String,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Settings on the command line: plain ones in argv, secret ones never.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// A non-secret setting, `key=value` (repeatable).
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// A secret setting read from an environment variable, `key=VAR` (repeatable).
    #[arg(long = "secret-env", value_name = "KEY=VAR")]
    pub secret_setting_env: Vec<String>,
    /// Read secret settings as a JSON object of strings from stdin.
    #[arg(long)]
    pub secret_settings_stdin: bool,
}

#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    pub name: String,
    /// Scopes to request, comma-separated (default: the manifest's).
    #[arg(long, value_delimiter = ',')]
    pub scopes: Option<Vec<String>>,
    /// Loopback port for the callback (default: a free one). Must match the redirect URI
    /// registered with the provider.
    #[arg(long)]
    pub port: Option<u16>,
    /// Print the URL instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Seconds to wait for the callback.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

fn split_pair(text: &str, flag: &str) -> anyhow::Result<(String, String)> {
    let (k, v) = super::settings_args::split_pair(text, flag)?;
    Ok((k.to_string(), v.to_string()))
}

fn settings_input(args: &SettingsArgs) -> anyhow::Result<SettingsInput> {
    let plain = args
        .settings
        .iter()
        .map(|s| split_pair(s, "--setting").map(|(k, v)| (k, PlainValue::Text(v))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut secret = BTreeMap::new();
    for item in &args.secret_setting_env {
        let (key, var) = split_pair(item, "--secret-env")?;
        let value = read_secret_from_env(&var, &format!("secret setting `{key}`"))?;
        secret.insert(key, value);
    }
    if args.secret_settings_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading secret settings from stdin")?;
        let map: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|e| {
            anyhow!(
                "stdin must hold a JSON object of string secret settings (line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        for (k, v) in map {
            if secret.insert(k.clone(), SecretString::from(v)).is_some() {
                bail!("secret setting `{k}` is given both in the environment and on stdin");
            }
        }
    }
    Ok(SettingsInput { plain, secret })
}

/// A settings failure as the operator should read it: where a secret goes instead.
fn settings_error(e: ServiceError) -> CliError {
    match e {
        ServiceError::SecretAsPlain { name } => CliError::Other(anyhow!(
            "--setting {name}: \"{name}\" is a secret setting; pass it from the environment or stdin, never in argv"
        )),
        other => other.into(),
    }
}

pub(super) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub(super) fn fmt_time(t: Option<i64>) -> String {
    let Some(t) = t else {
        return "-".into();
    };
    let delta = t - crate::store::now_unix();
    let (sign, abs) = if delta < 0 {
        ("-", -delta)
    } else {
        ("", delta)
    };
    let text = if abs < 120 {
        format!("{abs}s")
    } else if abs < 7200 {
        format!("{}m", abs / 60)
    } else if abs < 172_800 {
        format!("{}h", abs / 3600)
    } else {
        format!("{}d", abs / 86_400)
    };
    if sign.is_empty() {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

fn print_outcome(outcome: &AuthorizationOutcome) -> ExitCode {
    println!(
        "Connected. Granted scopes: {}",
        outcome.granted_scopes.join(" ")
    );
    println!(
        "Access token expires: {}; refresh token: {}.",
        fmt_time(outcome.expires_at),
        if outcome.has_refresh_token {
            "yes"
        } else {
            "no"
        }
    );
    for (k, v) in &outcome.callback_params {
        println!("Recorded {k} = {v}");
    }
    if let Some(claims) = &outcome.id_claims {
        println!(
            "id_token validated: subject {}{}",
            claims.subject,
            claims
                .email
                .as_deref()
                .map(|e| format!(", email {e}"))
                .unwrap_or_default()
        );
    }
    if outcome.missing_scopes.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "warning: missing_scopes: the provider did not grant {}; routes will get `missing-scopes`",
            outcome.missing_scopes.join(", ")
        );
        ExitCode::from(2)
    }
}

pub async fn run(cmd: ConnectionsCommand, services: &Services) -> Result<ExitCode, CliError> {
    match cmd {
        ConnectionsCommand::Create(args) => {
            let settings = settings_input(&args.settings)?;
            let c = services
                .create_connection(NewConnectionInput {
                    name: args.name.clone(),
                    connector: args.connector.clone(),
                    lookup: Lookup::KeyOrPath,
                    auth_option: args.auth_option.clone(),
                    settings,
                })
                .map_err(settings_error)?;
            println!(
                "Created connection `{}` ({}). Next: keyway connections authorize {}",
                c.name, c.status, c.name
            );
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::Update(args) => {
            let settings = settings_input(&args.settings)?;
            let c = services
                .update_settings(&args.name, settings)
                .map_err(settings_error)?;
            println!(
                "Updated the settings of connection `{}` ({}).",
                c.name, c.status
            );
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::Authorize(args) => {
            let name = args.name.clone();
            let code = authorize(services, args).await?;
            if code == ExitCode::SUCCESS {
                post_connect(services, &name).await?;
            }
            Ok(code)
        }
        ConnectionsCommand::Test { name } => {
            let view = services.test_connection(&name).await?;
            println!("{}", view.status);
            print_json(&view.body)?;
            Ok(if view.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ConnectionsCommand::List { json } => {
            let list = services.list_connections()?;
            if json {
                print_json(&list)?;
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                println!("No connections.");
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<24} {:<24} {:<22} {:<12} {:<12} LAST ERROR",
                "NAME", "CONNECTOR", "STATUS", "EXPIRES", "REFRESHED"
            );
            for c in list {
                println!(
                    "{:<24} {:<24} {:<22} {:<12} {:<12} {}",
                    c.name,
                    c.connector,
                    c.status,
                    fmt_time(c.token_expires_at),
                    fmt_time(c.last_refresh_at),
                    c.last_error.as_deref().unwrap_or("-")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::Show { name, json } => {
            let c = services.show_connection(&name)?;
            if json {
                print_json(&c)?;
            } else {
                print_connection(&c);
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::Revoke { name } => Ok(print_revocation(services.revoke(&name).await?)),
        ConnectionsCommand::Delete { name } => {
            services.delete_connection(&name)?;
            println!("Deleted connection `{name}`.");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Says what a revocation did; exit code 2 when the provider refused it.
pub(super) fn print_revocation(outcome: ProviderRevocation) -> ExitCode {
    match outcome {
        ProviderRevocation::Revoked => println!("Revoked at the provider; local tokens deleted."),
        ProviderRevocation::NoEndpoint => {
            println!("The provider has no revocation endpoint; local tokens deleted.")
        }
        ProviderRevocation::NoTokens => {
            println!("No tokens were stored; connection marked revoked.")
        }
        ProviderRevocation::Failed(e) => {
            eprintln!("warning: the provider revocation failed ({e}); local tokens deleted anyway");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

fn print_connection(c: &ConnectionView) {
    println!("name:            {}", c.name);
    println!("id:              {}", c.id);
    println!("connector:       {}", c.connector);
    println!("status:          {}", c.status);
    println!(
        "credential key:  {}",
        c.credential_key.as_deref().unwrap_or("-")
    );
    println!(
        "settings:        {}",
        serde_json::Value::Object(c.settings.clone())
    );
    println!("secret settings: {}", c.secret_settings.join(", "));
    println!(
        "granted scopes:  {}",
        c.granted_scopes
            .as_ref()
            .map(|s| s.join(" "))
            .unwrap_or_else(|| "-".into())
    );
    println!("token expires:   {}", fmt_time(c.token_expires_at));
    println!("last refresh:    {}", fmt_time(c.last_refresh_at));
    println!(
        "last error:      {}",
        c.last_error.as_deref().unwrap_or("-")
    );
    if let Some(account) = &c.account {
        println!(
            "account:         {} {}",
            account.id.as_deref().unwrap_or("-"),
            account.name.as_deref().unwrap_or("")
        );
    }
}

/// Runs the manifest's `postConnect` route after a successful authorization and prints
/// the provider account it reported.
async fn post_connect(services: &Services, name: &str) -> Result<(), CliError> {
    if let Some(account) = services.post_connect(name).await? {
        println!(
            "Provider account: {} ({}) {}",
            account.name.as_deref().unwrap_or("-"),
            account.id.as_deref().unwrap_or("-"),
            account.domain.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

async fn authorize(services: &Services, args: AuthorizeArgs) -> Result<ExitCode, CliError> {
    authorize_flow(services, Expected::Connection(&args.name), &args).await
}

/// The loopback authorization of a connector connection or an app connection: listen,
/// print or open the provider's URL, wait for the callback, complete, print the outcome.
pub(super) async fn authorize_flow(
    services: &Services,
    target: Expected<'_>,
    args: &AuthorizeArgs,
) -> Result<ExitCode, CliError> {
    let listener = CallbackListener::bind(args.port.unwrap_or(0))
        .await
        .context("listening for the OAuth callback")?;
    let redirect = listener.redirect_uri();
    let started = services
        .begin_target_authorization(target, &redirect, args.scopes.clone())
        .await?;
    let request = match started {
        AuthorizationStart::Connected(outcome) => return Ok(print_outcome(&outcome)),
        AuthorizationStart::Redirect(request) => request,
    };
    println!("Redirect URI (register it with the provider): {redirect}");
    if args.no_browser || open::that(request.url.as_str()).is_err() {
        println!("Open this URL to authorize:\n{}", request.url);
    } else {
        println!(
            "Opened the browser. If nothing happened, open:\n{}",
            request.url
        );
    }
    let callback = listener
        .wait(Duration::from_secs(args.timeout))
        .await
        .context("waiting for the OAuth callback")?;
    let done = services
        .complete_authorization(&callback, Some(target))
        .await?;
    Ok(print_outcome(&done.outcome))
}
