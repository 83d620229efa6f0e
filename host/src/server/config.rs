//! `keyway serve` configuration: built-in defaults, then a TOML file, then environment
//! variables and flags (clap reads both), each overriding the one before.
//!
//! Owns: [`FileConfig`] (the file's shape, unknown keys refused), [`ServeConfig`] (what
//! the server runs with) and the merge; the background refresher's settings are
//! `config/refresh.rs`'s.
//! Must not: read a secret from the file or from argv; the admin key comes from the
//! environment or a key file only.

mod history;
mod refresh;
mod streams;

pub(crate) use history::FileHistory;
pub(crate) use refresh::FileRefresh;
pub(crate) use streams::FileStreams;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use ipnet::IpNet;
use serde::Deserialize;
use url::Url;

use crate::oauth::background::BackgroundOptions;
use crate::services::SchedulerOptions;
use crate::store::{DatabaseUrl, HistoryRetention};

/// Where the sandbox provider listens unless told otherwise; `connectors/sandbox` names it.
pub(crate) const DEFAULT_SANDBOX_LISTEN: &str = "127.0.0.1:8788";
/// Where the server listens unless told otherwise.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// The configuration file (`--config FILE`). Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct FileConfig {
    pub listen: Option<String>,
    /// Base URL the server is reached at, for the OAuth redirect URI.
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// The store's database (`sqlite:PATH` or `postgres://USER@HOST:PORT/DATABASE`).
    pub database_url: Option<String>,
    pub connectors: Option<Vec<PathBuf>>,
    /// CIDRs routes may reach despite the private-address refusal.
    pub allow_private_networks: Option<Vec<String>>,
    #[serde(default)]
    pub limits: FileLimits,
    #[serde(default)]
    pub sandbox: FileSandbox,
    /// The background refresher.
    #[serde(default)]
    pub refresh: FileRefresh,
    /// The stream scheduler.
    #[serde(default)]
    pub streams: FileStreams,
    /// What the invocation history keeps.
    #[serde(default)]
    pub history: FileHistory,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct FileLimits {
    pub memory_mib: Option<u64>,
    pub deadline_seconds: Option<u64>,
    pub max_concurrent_invocations: Option<usize>,
    pub max_concurrent_per_key: Option<usize>,
    pub max_body_bytes: Option<usize>,
    pub shutdown_grace_seconds: Option<u64>,
    pub header_read_timeout_seconds: Option<u64>,
    pub body_read_timeout_seconds: Option<u64>,
    pub idle_timeout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct FileSandbox {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
}

impl FileConfig {
    /// Reads and parses `path`; errors name the file and the offending key or line.
    pub fn read(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the config file {}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
    }
}

/// Values given on the command line or in the environment; `None` when neither set one.
#[derive(Debug, Default, Clone)]
pub(crate) struct Overrides {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<DatabaseUrl>,
    pub connectors: Option<Vec<PathBuf>>,
    pub allow_private_networks: Vec<String>,
    pub memory_mib: Option<u64>,
    pub deadline_seconds: Option<u64>,
    pub max_concurrent_invocations: Option<usize>,
    pub max_concurrent_per_key: Option<usize>,
    pub max_body_bytes: Option<usize>,
    pub shutdown_grace_seconds: Option<u64>,
    pub header_read_timeout_seconds: Option<u64>,
    pub body_read_timeout_seconds: Option<u64>,
    pub idle_timeout_seconds: Option<u64>,
    pub sandbox: bool,
    pub sandbox_listen: Option<String>,
    pub refresh_interval_seconds: Option<u64>,
    pub refresh_ahead_seconds: Option<u64>,
    pub no_streams: bool,
    pub streams_per_connector: Option<usize>,
}

/// Per-invocation and server-wide limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_limit: usize,
    pub deadline: Duration,
    /// Invocations running at once; more get 503 with `Retry-After`.
    pub max_concurrent: usize,
    /// Invocations one API key may run at once; more get 429 with `Retry-After`.
    pub max_concurrent_per_key: usize,
    pub max_body: usize,
    /// How long shutdown waits for invocations in flight.
    pub shutdown_grace: Duration,
    /// How long a request head may take to arrive once its first byte has.
    pub header_read_timeout: Duration,
    /// How long a request body may take to arrive, whole.
    pub body_read_timeout: Duration,
    /// How long a connection may wait for a request's first byte (a new connection, or a
    /// kept-alive one after its last answer) before it is closed.
    pub idle_timeout: Duration,
}

/// What the server runs with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Base URL for links the server hands out; `None`: `http://<bound address>`.
    pub public_url: Option<Url>,
    pub data_dir: PathBuf,
    /// The store's database; `None`: `keyway.db` in the data directory.
    pub database: Option<DatabaseUrl>,
    pub connector_dirs: Vec<PathBuf>,
    pub allow_private: Vec<IpNet>,
    pub limits: Limits,
    /// Where the built-in sandbox provider listens, when it is on.
    pub sandbox: Option<SocketAddr>,
    /// When the background refresher passes and what it refreshes.
    pub refresh: BackgroundOptions,
    /// The stream scheduler; `None` when switched off.
    pub streams: Option<SchedulerOptions>,
    /// What the invocation history keeps.
    pub history: HistoryRetention,
    /// How long a connection's refresh lease lasts at most (`[refresh] lease_seconds`).
    pub refresh_lease: Duration,
    /// How long a stream's run lease lasts without a heartbeat (`[streams] lease_seconds`).
    pub stream_lease: Duration,
}

fn addr(text: &str, what: &str) -> anyhow::Result<SocketAddr> {
    text.parse()
        .with_context(|| format!("{what} {text:?}: not an address such as 127.0.0.1:8787"))
}

fn positive<T: PartialOrd + Default + Copy + std::fmt::Display>(
    value: T,
    what: &str,
) -> anyhow::Result<T> {
    if value <= T::default() {
        bail!("{what} must be greater than 0 (got {value})");
    }
    Ok(value)
}

impl ServeConfig {
    /// Merges defaults, the file and the overrides.
    pub(crate) fn merge(file: FileConfig, o: Overrides) -> anyhow::Result<ServeConfig> {
        let listen = addr(
            o.listen
                .as_deref()
                .or(file.listen.as_deref())
                .unwrap_or(DEFAULT_LISTEN),
            "listen address",
        )?;
        let public_url = match o.public_url.or(file.public_url) {
            Some(text) => {
                let url =
                    Url::parse(&text).with_context(|| format!("public URL {text:?}: not a URL"))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    bail!("public URL {text:?}: must be an http or https URL with a host");
                }
                Some(url)
            }
            None => None,
        };
        let mut allow_private = Vec::new();
        let cidrs = file
            .allow_private_networks
            .unwrap_or_default()
            .into_iter()
            .chain(o.allow_private_networks);
        for cidr in cidrs {
            allow_private.push(cidr.parse::<IpNet>().with_context(|| {
                format!("private network {cidr:?}: not a CIDR such as 10.0.0.0/8")
            })?);
        }
        let memory_mib = positive(
            o.memory_mib.or(file.limits.memory_mib).unwrap_or(64),
            "memory limit (MiB)",
        )?;
        let max_concurrent = positive(
            o.max_concurrent_invocations
                .or(file.limits.max_concurrent_invocations)
                .unwrap_or(64),
            "max concurrent invocations",
        )?;
        let max_concurrent_per_key = positive(
            o.max_concurrent_per_key
                .or(file.limits.max_concurrent_per_key)
                .unwrap_or(max_concurrent.div_ceil(2)),
            "max concurrent invocations per API key",
        )?;
        if max_concurrent_per_key > max_concurrent {
            bail!(
                "max concurrent invocations per API key ({max_concurrent_per_key}) cannot be \
                 more than max concurrent invocations ({max_concurrent})"
            );
        }
        let seconds = |flag: Option<u64>, file: Option<u64>, default: u64, what: &str| {
            positive(flag.or(file).unwrap_or(default), what).map(Duration::from_secs)
        };
        let limits = Limits {
            memory_limit: usize::try_from(memory_mib.saturating_mul(1 << 20))
                .context("memory limit too large for this machine")?,
            deadline: Duration::from_secs(positive(
                o.deadline_seconds
                    .or(file.limits.deadline_seconds)
                    .unwrap_or(30),
                "deadline (seconds)",
            )?),
            max_concurrent,
            max_concurrent_per_key,
            max_body: positive(
                o.max_body_bytes
                    .or(file.limits.max_body_bytes)
                    .unwrap_or(1 << 20),
                "max body bytes",
            )?,
            shutdown_grace: Duration::from_secs(
                o.shutdown_grace_seconds
                    .or(file.limits.shutdown_grace_seconds)
                    .unwrap_or(30),
            ),
            header_read_timeout: seconds(
                o.header_read_timeout_seconds,
                file.limits.header_read_timeout_seconds,
                10,
                "header read timeout (seconds)",
            )?,
            body_read_timeout: seconds(
                o.body_read_timeout_seconds,
                file.limits.body_read_timeout_seconds,
                30,
                "body read timeout (seconds)",
            )?,
            idle_timeout: seconds(
                o.idle_timeout_seconds,
                file.limits.idle_timeout_seconds,
                60,
                "idle timeout (seconds)",
            )?,
        };
        let sandbox_on = o.sandbox || file.sandbox.enabled.unwrap_or(false);
        let sandbox = if sandbox_on {
            Some(addr(
                o.sandbox_listen
                    .as_deref()
                    .or(file.sandbox.listen.as_deref())
                    .unwrap_or(DEFAULT_SANDBOX_LISTEN),
                "sandbox listen address",
            )?)
        } else {
            None
        };
        if let Some(sb) = sandbox
            && !sb.ip().is_loopback()
        {
            bail!("sandbox listen address {sb}: the sandbox provider listens on loopback only");
        }
        let refresh = refresh::merge(
            &file.refresh,
            o.refresh_interval_seconds,
            o.refresh_ahead_seconds,
        )?;
        let streams = streams::merge(&file.streams, o.no_streams, o.streams_per_connector)?;
        let history = history::merge(&file.history)?;
        let refresh_lease = refresh::lease_seconds(
            file.refresh.lease_seconds,
            crate::oauth::RefreshPolicy::default().lease_ttl,
            "refresh lease (refresh.lease_seconds)",
        )?;
        let stream_lease = refresh::lease_seconds(
            file.streams.lease_seconds,
            crate::store::STREAM_LEASE,
            "stream lease (streams.lease_seconds)",
        )?;
        let database = match (o.database_url, &file.database_url) {
            (Some(url), _) => Some(url),
            (None, Some(text)) => {
                Some(DatabaseUrl::parse(text).map_err(|e| anyhow::anyhow!("database_url: {e}"))?)
            }
            (None, None) => None,
        };
        Ok(ServeConfig {
            listen,
            public_url,
            data_dir: o
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(".keyway")),
            database,
            connector_dirs: o
                .connectors
                .or(file.connectors)
                .unwrap_or_else(|| vec![PathBuf::from("connectors")]),
            allow_private,
            limits,
            sandbox,
            refresh,
            streams,
            history,
            refresh_lease,
            stream_lease,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<FileConfig> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
    }

    #[test]
    fn defaults_are_safe() {
        let c = ServeConfig::merge(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.limits.memory_limit, 64 << 20);
        assert_eq!(c.limits.deadline, Duration::from_secs(30));
        assert!(c.sandbox.is_none());
        assert!(c.allow_private.is_empty());
        assert_eq!(c.limits.max_concurrent, 64);
        assert_eq!(c.limits.max_concurrent_per_key, 32);
        assert_eq!(c.limits.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.limits.body_read_timeout, Duration::from_secs(30));
        assert_eq!(c.limits.idle_timeout, Duration::from_secs(60));
    }

    #[test]
    fn the_per_key_share_defaults_to_half_the_slots_and_fits_in_them() {
        let share = |max: usize| {
            let o = Overrides {
                max_concurrent_invocations: Some(max),
                ..Overrides::default()
            };
            ServeConfig::merge(FileConfig::default(), o)
                .unwrap()
                .limits
                .max_concurrent_per_key
        };
        assert_eq!(share(1), 1);
        assert_eq!(share(7), 4);
        assert_eq!(share(8), 4);
        let file = parse("[limits]\nmax_concurrent_invocations = 4\nmax_concurrent_per_key = 5\n")
            .unwrap();
        let err = ServeConfig::merge(file, Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("per API key (5)"), "{err}");
        let file = parse(
            "[limits]\nheader_read_timeout_seconds = 2\nbody_read_timeout_seconds = 3\nidle_timeout_seconds = 0\n",
        )
        .unwrap();
        let err = ServeConfig::merge(file, Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("idle timeout"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let file =
            parse("listen = \"127.0.0.1:9000\"\n[limits]\ndeadline_seconds = 5\nmemory_mib = 32\n")
                .unwrap();
        let o = Overrides {
            deadline_seconds: Some(7),
            ..Overrides::default()
        };
        let c = ServeConfig::merge(file, o).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.limits.deadline, Duration::from_secs(7));
        assert_eq!(c.limits.memory_limit, 32 << 20);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = parse("listne = \"x\"").unwrap_err().to_string();
        assert!(err.contains("listne"), "{err}");
        let err = parse("[limits]\ndeadline = 3").unwrap_err().to_string();
        assert!(err.contains("deadline"), "{err}");
        let o = Overrides {
            listen: Some("nowhere".into()),
            ..Overrides::default()
        };
        let err = ServeConfig::merge(FileConfig::default(), o)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"nowhere\""), "{err}");
        let o = Overrides {
            max_concurrent_invocations: Some(0),
            ..Overrides::default()
        };
        let err = ServeConfig::merge(FileConfig::default(), o)
            .unwrap_err()
            .to_string();
        assert!(err.contains("max concurrent invocations"), "{err}");
    }

    #[test]
    fn the_sandbox_stays_on_loopback() {
        let o = Overrides {
            sandbox: true,
            sandbox_listen: Some("0.0.0.0:8788".into()),
            ..Overrides::default()
        };
        let err = ServeConfig::merge(FileConfig::default(), o)
            .unwrap_err()
            .to_string();
        assert!(err.contains("loopback"), "{err}");
    }
}
