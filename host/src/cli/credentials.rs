//! `keyway credentials`: OAuth app credentials (client id and secret) per credential key.
//!
//! Owns: `set`, `list`, `delete`. The client secret comes from stdin or a named environment
//! variable, never from argv.
//! Must not: print a client secret.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::services::credentials::{MAX_CLIENT_ID, MAX_CLIENT_SECRET, value_problem};
use crate::services::views::CredentialView;
use crate::store::{DatabaseUrl, Store};

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Store the client id and secret of an OAuth app under a credential key.
    Set(SetArgs),
    /// Show credential keys and client ids (never secrets).
    List {
        /// Print JSON (the API's shape) instead of text lines.
        #[arg(long)]
        json: bool,
    },
    /// Delete stored credentials.
    Delete { key: String },
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The manifest's credential key.
    pub key: String,
    #[arg(long)]
    pub client_id: String,
    /// Read the client secret from this environment variable instead of stdin.
    #[arg(long, value_name = "VAR", conflicts_with = "no_client_secret")]
    pub client_secret_env: Option<String>,
    /// A public client: store no secret.
    #[arg(long)]
    pub no_client_secret: bool,
}

/// Reads one secret line from stdin (prompting on a terminal).
pub(crate) fn read_secret_from_stdin(what: &str) -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Enter the {what} and press Enter (input is read from stdin):");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from stdin"))?;
    let value = line.trim_end_matches(['\r', '\n']).to_string();
    if value.is_empty() {
        bail!("the {what} read from stdin is empty");
    }
    Ok(SecretString::from(value))
}

pub(crate) fn read_secret_from_env(var: &str, what: &str) -> anyhow::Result<SecretString> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
        Ok(_) => bail!("environment variable {var} (the {what}) is empty"),
        Err(_) => bail!("environment variable {var} (the {what}) is not set"),
    }
}

pub async fn run(
    cmd: CredentialsCommand,
    data_dir: &Path,
    database: Option<&DatabaseUrl>,
) -> anyhow::Result<ExitCode> {
    let store = Store::open_in(data_dir, database)?;
    match cmd {
        CredentialsCommand::Set(args) => {
            let secret = if args.no_client_secret {
                None
            } else if let Some(var) = &args.client_secret_env {
                Some(read_secret_from_env(var, "client secret")?)
            } else {
                Some(read_secret_from_stdin("client secret")?)
            };
            // The rules the admin API and the console apply.
            if let Some(p) = value_problem(&args.client_id, MAX_CLIENT_ID) {
                bail!("--client-id: the client id {p}");
            }
            if let Some(p) = secret
                .as_ref()
                .and_then(|s| value_problem(s.expose_secret(), MAX_CLIENT_SECRET))
            {
                bail!("the client secret {p} (for a public client, pass --no-client-secret)");
            }
            store.set_credentials(&args.key, &args.client_id, secret.as_ref())?;
            println!(
                "Stored credentials `{}` (client id {}{}).",
                args.key,
                args.client_id,
                if secret.is_some() {
                    ", secret sealed"
                } else {
                    ", no secret"
                }
            );
        }
        CredentialsCommand::List { json } => {
            let list = store.list_credentials()?;
            if json {
                let views: Vec<CredentialView> = list.iter().map(CredentialView::from).collect();
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else if list.is_empty() {
                println!("No credentials stored.");
            } else {
                println!("{:<32} {:<40} SECRET", "KEY", "CLIENT ID");
                for c in list {
                    println!(
                        "{:<32} {:<40} {}",
                        c.key,
                        c.client_id,
                        if c.has_secret { "sealed" } else { "none" }
                    );
                }
            }
        }
        CredentialsCommand::Delete { key } => {
            store.delete_credentials(&key)?;
            println!("Deleted credentials `{key}`.");
        }
    }
    Ok(ExitCode::SUCCESS)
}
