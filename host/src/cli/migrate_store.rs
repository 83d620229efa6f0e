//! `keyway migrate-store --from URL --to URL`: copies a whole store into an empty database
//! (SQLite or PostgreSQL on either side), so an installation can move to PostgreSQL
//! replicas, or back.
//!
//! Owns: the command's flags, finding the master key as every command does (the
//! environment, else the data directory's key file; none is created), and printing one
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
use crate::store::crypto::{KEY_FILE, MASTER_KEY_ENV};
use crate::store::{DatabaseUrl, KeyOrigin, MasterKey};

#[derive(Debug, Args)]
pub struct MigrateStoreArgs {
    /// The store to copy: `sqlite:PATH` or `postgres://USER@HOST:PORT/DATABASE`. It must
    /// open with the master key; it is migrated to this build's schema, as a start would.
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The database to copy it into, created or migrated first; refused unless it holds
    /// no data. A PostgreSQL password (for either URL) comes from KEYWAY_DATABASE_PASSWORD.
    #[arg(long, value_name = "URL")]
    pub to: String,
}

pub fn run(args: &MigrateStoreArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let from = DatabaseUrl::parse(&args.from).map_err(|e| anyhow!("--from: {e}"))?;
    let to = DatabaseUrl::parse(&args.to).map_err(|e| anyhow!("--to: {e}"))?;
    let key_file = data_dir.join(KEY_FILE);
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
