//! `keyway app-connections`: OAuth connections defined once by name for the whole host
//! (provider URL, optional issuer, endpoint overrides, client id and secret) and used by
//! name from any route granted them; a thin adapter over [`crate::services`].
//!
//! Owns: the commands and their output; reading the client secret from a named
//! environment variable or stdin.
//! Must not: take a secret from argv or print one.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::CliError;
use super::connections::{AuthorizeArgs, authorize_flow, fmt_time, print_json, print_revocation};
use super::credentials::{read_secret_from_env, read_secret_from_stdin};
use crate::services::views::AppConnectionView;
use crate::services::{AppConnectionInput, Expected, Services};

/// `keyway app-connections`: the subcommand and the options all of them share.
#[derive(Debug, Args)]
pub struct AppConnectionsArgs {
    /// Let OAuth requests reach this CIDR despite the private-address block (an
    /// authorization server on this machine, for example 127.0.0.1/32). Repeatable.
    #[arg(long = "allow-cidr", value_name = "CIDR", global = true)]
    pub allow_cidrs: Vec<String>,
    #[command(subcommand)]
    pub command: AppConnectionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AppConnectionsCommand {
    /// Define an app connection (status `pending_authorization` until authorized).
    Create(CreateArgs),
    /// List app connections and their token state.
    List {
        /// Print JSON (the API's shape) instead of text lines.
        #[arg(long)]
        json: bool,
    },
    /// Show one app connection.
    Show {
        name: String,
        /// Print JSON (the API's shape).
        #[arg(long)]
        json: bool,
    },
    /// Authorize an app connection in the browser, through a loopback callback.
    Authorize(AuthorizeArgs),
    /// Revoke the grant at the provider and delete the tokens.
    Revoke { name: String },
    /// Delete an app connection, its tokens and its client credentials.
    Delete { name: String },
}

/// `app-connections create`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("secret").required(true).args(["client_secret_env", "client_secret_stdin"])))]
pub struct CreateArgs {
    /// 1-63 lowercase letters, digits and hyphens; routes use the connection by this name.
    pub name: String,
    /// The provider's base URL.
    #[arg(long)]
    pub provider_url: String,
    /// The OIDC issuer: its discovery names the endpoints and the keys id_tokens are
    /// checked against.
    #[arg(long)]
    pub issuer_url: Option<String>,
    /// The authorization endpoint (needed without an issuer; overrides discovery).
    #[arg(long)]
    pub auth_url: Option<String>,
    /// The token endpoint (needed without an issuer; overrides discovery).
    #[arg(long)]
    pub token_url: Option<String>,
    /// Default scopes, comma-separated (with an issuer: openid,profile,email).
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    #[arg(long)]
    pub client_id: String,
    /// Read the client secret from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub client_secret_env: Option<String>,
    /// Read the client secret from the first line of stdin.
    #[arg(long)]
    pub client_secret_stdin: bool,
}

fn print_app(a: &AppConnectionView) {
    println!("name:            {}", a.name);
    println!("status:          {}", a.status);
    println!("provider URL:    {}", a.provider_url);
    println!(
        "issuer URL:      {}",
        a.issuer_url.as_deref().unwrap_or("-")
    );
    println!(
        "auth URL:        {}",
        a.auth_url.as_deref().unwrap_or("(discovered)")
    );
    println!(
        "token URL:       {}",
        a.token_url.as_deref().unwrap_or("(discovered)")
    );
    println!("client id:       {}", a.client_id);
    println!("scopes:          {}", a.scopes.join(" "));
    if let Some(granted) = &a.granted_scopes {
        println!("granted scopes:  {}", granted.join(" "));
    }
    println!("token expires:   {}", fmt_time(a.token_expires_at));
    if let Some(account) = &a.account {
        println!(
            "account:         {} {}",
            account.id.as_deref().unwrap_or("-"),
            account.name.as_deref().unwrap_or("")
        );
    }
    if let Some(e) = &a.last_error {
        println!("last error:      {e}");
    }
}

/// Runs one `app-connections` command.
pub async fn run(cmd: AppConnectionsCommand, services: &Services) -> Result<ExitCode, CliError> {
    match cmd {
        AppConnectionsCommand::Create(args) => {
            let client_secret = match &args.client_secret_env {
                Some(var) => read_secret_from_env(var, "client secret")?,
                None => read_secret_from_stdin("client secret")?,
            };
            let input = AppConnectionInput {
                provider_url: args.provider_url,
                issuer_url: args.issuer_url,
                auth_url: args.auth_url,
                token_url: args.token_url,
                scopes: args.scopes,
                client_id: args.client_id,
                client_secret,
            };
            let view = services.create_app_connection(&args.name, &input)?;
            println!(
                "Created app connection `{}`; authorize it with `keyway app-connections authorize {}`.",
                view.name, view.name
            );
            Ok(ExitCode::SUCCESS)
        }
        AppConnectionsCommand::List { json } => {
            let list = services.list_app_connections()?;
            if json {
                print_json(&list)?;
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                println!("No app connections.");
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<24} {:<22} {:<12} {:<36} LAST ERROR",
                "NAME", "STATUS", "EXPIRES", "PROVIDER"
            );
            for a in list {
                println!(
                    "{:<24} {:<22} {:<12} {:<36} {}",
                    a.name,
                    a.status,
                    fmt_time(a.token_expires_at),
                    a.provider_url,
                    a.last_error.as_deref().unwrap_or("")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AppConnectionsCommand::Show { name, json } => {
            let view = services.app_connection(&name)?;
            if json {
                print_json(&view)?;
            } else {
                print_app(&view);
            }
            Ok(ExitCode::SUCCESS)
        }
        AppConnectionsCommand::Authorize(args) => {
            authorize_flow(services, Expected::App(&args.name), &args).await
        }
        AppConnectionsCommand::Revoke { name } => {
            Ok(print_revocation(services.revoke_app(&name).await?))
        }
        AppConnectionsCommand::Delete { name } => {
            services.delete_app_connection(&name)?;
            println!("Deleted app connection `{name}`.");
            Ok(ExitCode::SUCCESS)
        }
    }
}
