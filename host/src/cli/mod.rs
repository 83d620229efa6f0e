//! The `keyway` command line: one file per command group, each with clap types and a
//! `run`; `main.rs` only parses and dispatches. Secrets never come from argv: commands
//! read them from stdin or a named environment variable.
//!
//! Failures of the use cases reach `main.rs` as [`CliError`], whose exit code is read off
//! the failure's kind in one place: 2 for what the operator must fix (bad input, nothing
//! by that name, a conflict), 3 when the provider or a route failed, 4 for a host fault;
//! 1 stays a command's own "no" (a route answered non-2xx, a check failed).
//!
//! Must not: hold logic that tests cannot reach through the library, or hold a use case
//! (they live in `services`, shared with the server).

pub mod api_keys;
pub mod app_connections;
pub mod apply;
pub mod call;
pub mod connections;
pub mod connectors;
pub mod credentials;
pub mod keys;
pub mod migrate_store;
pub mod new;
pub mod providers;
pub mod records;
pub mod serve;
pub(crate) mod settings_args;
pub mod streams;
pub mod validate;
pub mod webhooks;

/// The runtime configuration of a command that loads components without opening the
/// store: compiled components cached in the data directory and authenticated with the
/// master key's cache sub-key when a master key exists (none is created here; without
/// one the runtime uses a per-process key, so nothing is reused across runs).
pub(crate) fn cached_runtime_config(
    data_dir: &std::path::Path,
) -> anyhow::Result<crate::runtime::RuntimeConfig> {
    use anyhow::Context as _;
    let master = crate::store::MasterKey::load_existing(data_dir)
        .context("reading the master key that authenticates the component cache")?;
    Ok(crate::runtime::RuntimeConfig {
        cache_dir: Some(data_dir.join("cache")),
        cache_key: master.as_ref().map(crate::runtime::CacheKey::from_master),
        ..crate::runtime::RuntimeConfig::default()
    })
}

/// Parses `--allow-cidr` values.
pub(crate) fn parse_cidrs(values: &[String]) -> anyhow::Result<Vec<ipnet::IpNet>> {
    use anyhow::Context as _;
    values
        .iter()
        .map(|cidr| {
            cidr.parse()
                .with_context(|| format!("--allow-cidr {cidr:?}: not a CIDR such as 127.0.0.1/32"))
        })
        .collect()
}

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Service(#[from] crate::services::ServiceError),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        use crate::services::Kind;
        match self {
            CliError::Service(e) => match e.kind() {
                Kind::Invalid | Kind::Refused | Kind::NotFound | Kind::Conflict => 2,
                Kind::Upstream | Kind::Busy => 3,
                Kind::Internal => 4,
            },
            CliError::Other(_) => 2,
        }
    }
}

/// `ServicesConfig::new` with the operator's `--allow-cidr` values admitted for routes and
/// OAuth requests alike.
pub fn services_config(
    data_dir: &std::path::Path,
    connector_dirs: Vec<std::path::PathBuf>,
    allow_cidrs: &[String],
) -> anyhow::Result<crate::services::ServicesConfig> {
    let mut config = crate::services::ServicesConfig::new(data_dir.to_path_buf(), connector_dirs);
    config.egress.allowed_cidrs = parse_cidrs(allow_cidrs)?;
    Ok(config)
}
