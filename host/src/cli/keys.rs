//! `keyway keys rotate`: re-seals every secret under a new master key in one transaction.
//!
//! Owns: choosing how the new key is supplied (a new key file, or an environment variable
//! when the current key comes from the environment).
//! Must not: print key material.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::store::{DatabaseUrl, KeyOrigin, MasterKey, Store};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-seal every stored secret under a new master key.
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// When the current key comes from KEYWAY_MASTER_KEY: the environment variable holding
    /// the new key (base64, 32 bytes). With a key file, a new file is generated instead.
    #[arg(long, value_name = "VAR")]
    pub new_key_env: Option<String>,
}

pub async fn run(
    cmd: KeysCommand,
    data_dir: &Path,
    database: Option<&DatabaseUrl>,
) -> anyhow::Result<ExitCode> {
    let KeysCommand::Rotate(args) = cmd;
    let store = Store::open_in(data_dir, database)?;
    let report = match (store.key_origin().clone(), &args.new_key_env) {
        (KeyOrigin::Env, Some(var)) => {
            let text = std::env::var(var)
                .with_context(|| format!("environment variable {var} (the new key) is not set"))?;
            let key = MasterKey::from_base64(&text, var)?;
            let report = store.rotate_key(&key)?;
            println!(
                "Re-sealed {} values. Set KEYWAY_MASTER_KEY to the value of {var} before the next start.",
                report.resealed
            );
            report
        }
        (KeyOrigin::Env, None) => bail!(
            "the master key comes from KEYWAY_MASTER_KEY; pass --new-key-env VAR naming a variable that holds the new key"
        ),
        (_, Some(_)) => bail!(
            "the master key comes from a key file; omit --new-key-env and a new key file is generated"
        ),
        (_, None) => {
            let report = store.rotate_key_file()?;
            println!(
                "Re-sealed {} values under a new key in {}.",
                report.resealed,
                data_dir.join(crate::store::crypto::KEY_FILE).display()
            );
            report
        }
    };
    let _ = report;
    Ok(ExitCode::SUCCESS)
}
