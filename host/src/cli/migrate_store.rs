//! `keyway migrate-store --from URL --to URL [--from-password-env VAR]
//! [--to-password-env VAR]`: copies a whole store into an empty database
//! (SQLite or PostgreSQL on either side), so an installation can move to PostgreSQL
//! replicas, or back.
//!
//! Owns: the command's flags, finding the master key as every command does (the
//! environment, else the data directory's key file, a rotation left half done finished
//! first; none is created), and printing one
//! line per table copied and a last line.
//! Must not: print a stored value, a key or a password (the URLs are parsed here rather
//! than by clap, whose error would quote the text given), or hold the copy itself
//! (`store::copy`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::Args;

use crate::store::copy::copy_store;
use crate::store::crypto::{KEY_FILE, MASTER_KEY_ENV, NEXT_KEY_FILE};
use crate::store::{DatabaseUrl, KeyOrigin, MasterKey, Store};

#[derive(Debug, Args)]
pub struct MigrateStoreArgs {
    /// The store to copy: `sqlite:PATH` or `postgres://USER@HOST:PORT/DATABASE`. It must
    /// open with the master key; it is migrated to this build's schema, as a start would.
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The database to copy it into, created or migrated first; refused unless it holds
    /// no data. A PostgreSQL password (for either URL) comes from KEYWAY_DATABASE_PASSWORD
    /// unless the flags below name another variable.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// The environment variable that holds `--from`'s PostgreSQL password (when the two
    /// databases' passwords differ). Only its name is given here, never the password.
    #[arg(long, value_name = "VAR")]
    pub from_password_env: Option<String>,
    /// The environment variable that holds `--to`'s PostgreSQL password.
    #[arg(long, value_name = "VAR")]
    pub to_password_env: Option<String>,
}

/// `text` parsed, its password from `var` when one is named.
fn database(flag: &str, text: &str, var: Option<&str>) -> anyhow::Result<DatabaseUrl> {
    match var {
        None => DatabaseUrl::parse(text),
        Some(var) => DatabaseUrl::parse_with_password_from(text, var),
    }
    .map_err(|e| anyhow!("{flag}: {e}"))
}

/// A key rotation that committed but did not rename `master.key.next` over `master.key`
/// leaves a source only the next key opens; opening the store finishes it, as any other
/// command would. Nothing is opened (or created) when there is no such file, or no source.
fn finish_interrupted_rotation(data_dir: &Path, from: &DatabaseUrl) -> anyhow::Result<()> {
    let from_key_file = std::env::var_os(MASTER_KEY_ENV).is_none();
    let source_exists = match from {
        DatabaseUrl::Sqlite(path) => path.is_file(),
        DatabaseUrl::Postgres(_) => true,
    };
    if from_key_file && source_exists && data_dir.join(NEXT_KEY_FILE).is_file() {
        Store::open_at(data_dir, from).context(
            "finishing the key rotation that master.key.next was left from, before the copy",
        )?;
    }
    Ok(())
}

pub fn run(args: &MigrateStoreArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let from = database("--from", &args.from, args.from_password_env.as_deref())?;
    let to = database("--to", &args.to, args.to_password_env.as_deref())?;
    let key_file = data_dir.join(KEY_FILE);
    finish_interrupted_rotation(data_dir, &from)?;
    let key = MasterKey::load_existing(data_dir)
        .context("reading the master key")?
        .ok_or_else(|| {
            anyhow!(
                "no master key: {MASTER_KEY_ENV} is unset and {} is missing; the key that \
                 sealed the source store is needed",
                key_file.display()
            )
        })?;
    let origin = if std::env::var_os(MASTER_KEY_ENV).is_some() {
        KeyOrigin::Env
    } else {
        KeyOrigin::File(key_file)
    };
    let started = Instant::now();
    let report = copy_store(&from, &to, &key, &origin)?;
    for (table, rows) in &report.tables {
        println!(
            "{table}: {rows} {}",
            if *rows == 1 { "row" } else { "rows" }
        );
    }
    println!(
        "Copied {} rows of {} tables from {from} to {to} in one transaction ({:.1} s). \
         Start keyway with --database-url {to} and the same master key.",
        report.rows(),
        report.tables.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
