//! `keyway new connector NAME [--oauth [--provider NAME]|--api-key]`: a connector crate
//! that builds, validates and passes its tests as generated: `connector.json` (an OAuth or
//! an API-key credential, a `testConnection` route and an hourly `records` stream),
//! `src/lib.rs` (the account check and a paged sync using the SDK's `ProviderFailure`,
//! `SyncOptions` and `Tally`, checkpointing in a stream run) and `tests/connector.rs` (the
//! release checklist). With `--provider`, a catalog entry that has an API base, an account
//! endpoint and default scopes (`crate::providers`): the OAuth block names the provider,
//! whose entry fills the endpoints and flow knobs, and the scopes, API and account check
//! are the entry's. `new/files.rs` fills the templates.
//!
//! The crate is written whole beside the connectors directory and moved in at the end,
//! so a failure never leaves a half-made crate that would break every cargo command of the
//! workspace; then, in a workspace, `cargo update --workspace --offline` enters it (and
//! nothing else) in `Cargo.lock`,
//! so `scripts/build-connectors` (which builds `--locked`) takes it at once, and `cargo
//! fmt` formats it as CI's `cargo fmt --check` wants.
//!
//! Owns: the command's arguments and writing the crate.
//! Must not: overwrite anything (an existing directory is refused).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::providers;

mod files;
pub use files::files;

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

/// A key: the connector key rule, starting with a letter (it also names a crate).
fn valid_key(key: &str) -> bool {
    crate::types::is_key(key) && key.starts_with(|c: char| c.is_ascii_lowercase())
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
    fn provider_must_be_a_preset_of_the_catalog() {
        assert_eq!(preset_key("hubspot").as_deref(), Ok("hubspot"));
        let unknown = preset_key("hubspto").expect_err("unknown");
        assert!(unknown.contains("\"hubspot\""), "{unknown}");
        let no_api = preset_key("shopify").expect_err("templated, no preset");
        assert!(no_api.contains("no API base"), "{no_api}");
    }
}
