//! `keyway api-keys create|list|revoke`: the keys callers present to invoke `api_key`
//! routes over `keyway serve`.
//!
//! Owns: the commands' output.
//! Must not: print a key anywhere but the one answer to `create`.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::services::views::ApiKeyView;
use crate::store::{DatabaseUrl, Store};

#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create a key; it is printed once, on stdout, and only its digest is stored.
    Create {
        /// A label for people, for example the calling service.
        #[arg(long)]
        name: String,
        /// Print only the key (for scripts).
        #[arg(long)]
        quiet: bool,
    },
    /// List keys (ids and names, never the keys).
    List {
        /// Print JSON (the API's shape) instead of text lines.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id; requests with it are refused from then on.
    Revoke { id: String },
}

pub fn run(
    cmd: ApiKeysCommand,
    data_dir: &Path,
    database: Option<&DatabaseUrl>,
) -> anyhow::Result<ExitCode> {
    let store = Store::open_in(data_dir, database)?;
    match cmd {
        ApiKeysCommand::Create { name, quiet } => {
            let key = store.create_api_key(&name)?;
            if quiet {
                println!("{}", key.key.expose_secret());
            } else {
                println!("Created API key `{}` (id {}).", key.name, key.id);
                println!("Key (shown once; only its digest is stored):");
                println!("{}", key.key.expose_secret());
            }
        }
        ApiKeysCommand::List { json } => {
            let keys = store.list_api_keys()?;
            if json {
                let views: Vec<ApiKeyView> = keys.iter().map(ApiKeyView::from).collect();
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else if keys.is_empty() {
                println!("No API keys.");
            } else {
                println!("{:<18} {:<10} NAME", "ID", "STATUS");
                for k in keys {
                    let status = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!("{:<18} {:<10} {}", k.id, status, k.name);
                }
            }
        }
        ApiKeysCommand::Revoke { id } => {
            store.revoke_api_key(&id)?;
            println!("Revoked API key {id}.");
        }
    }
    Ok(ExitCode::SUCCESS)
}
