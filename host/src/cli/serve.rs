//! `keyway serve`: flags for the server. Each flag also reads an environment variable;
//! `--config FILE` supplies the rest, and built-in defaults fill what is left.
//!
//! Owns: the flag definitions and turning them into [`crate::server::Overrides`].
//! Must not: take a secret as a flag (the admin key comes from `KEYWAY_ADMIN_KEY` or the
//! data directory's `admin.key`).

use std::path::PathBuf;

use clap::Args;

use crate::server::{FileConfig, Overrides, ServeConfig};
use crate::store::DatabaseUrl;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, env = "KEYWAY_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// TOML configuration file.
    #[arg(long, env = "KEYWAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Base URL the server is reached at, for the OAuth redirect URI
    /// [default: http://<listen address>].
    #[arg(long, env = "KEYWAY_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// A private network routes may reach, as a CIDR (repeatable).
    #[arg(long = "allow-private-network", value_name = "CIDR")]
    pub allow_private_networks: Vec<String>,
    /// Linear memory one invocation may use, in MiB [default: 64].
    #[arg(long, env = "KEYWAY_MEMORY_MIB")]
    pub memory_mib: Option<u64>,
    /// Wall-clock seconds one invocation may run [default: 30].
    #[arg(long, env = "KEYWAY_DEADLINE_SECONDS")]
    pub deadline_seconds: Option<u64>,
    /// Invocations running at once; beyond it callers get 503 [default: 64].
    #[arg(long, env = "KEYWAY_MAX_CONCURRENT")]
    pub max_concurrent: Option<usize>,
    /// Invocations one API key may run at once; beyond it that key gets 429
    /// [default: half of --max-concurrent, rounded up].
    #[arg(long, env = "KEYWAY_MAX_CONCURRENT_PER_KEY")]
    pub max_concurrent_per_key: Option<usize>,
    /// Largest request body for a route, in bytes [default: 1048576].
    #[arg(long, env = "KEYWAY_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Seconds shutdown waits for invocations in flight [default: 30].
    #[arg(long, env = "KEYWAY_SHUTDOWN_GRACE_SECONDS")]
    pub shutdown_grace_seconds: Option<u64>,
    /// Seconds a request head may take once its first byte arrived [default: 10].
    #[arg(long, env = "KEYWAY_HEADER_READ_TIMEOUT_SECONDS")]
    pub header_read_timeout_seconds: Option<u64>,
    /// Seconds a request body may take to arrive, whole; then 408 [default: 30].
    #[arg(long, env = "KEYWAY_BODY_READ_TIMEOUT_SECONDS")]
    pub body_read_timeout_seconds: Option<u64>,
    /// Seconds a connection may wait for its next request before it is closed [default: 60].
    #[arg(long, env = "KEYWAY_IDLE_TIMEOUT_SECONDS")]
    pub idle_timeout_seconds: Option<u64>,
    /// Also start the built-in sandbox OAuth provider and orders API on loopback.
    #[arg(long, env = "KEYWAY_SANDBOX")]
    pub sandbox: bool,
    /// Where the sandbox provider listens [default: 127.0.0.1:8788].
    #[arg(long, env = "KEYWAY_SANDBOX_LISTEN", value_name = "ADDR")]
    pub sandbox_listen: Option<String>,
    /// Seconds between two passes of the background token refresher [default: 60].
    #[arg(long, env = "KEYWAY_REFRESH_INTERVAL_SECONDS")]
    pub refresh_interval_seconds: Option<u64>,
    /// A pass refreshes tokens expiring within this many seconds; at least the interval
    /// [default: 300].
    #[arg(long, env = "KEYWAY_REFRESH_AHEAD_SECONDS")]
    pub refresh_ahead_seconds: Option<u64>,
    /// Do not run the stream scheduler (streams then run only when asked).
    #[arg(long, env = "KEYWAY_NO_STREAMS")]
    pub no_streams: bool,
    /// Runs of one connector's streams at once [default: 2].
    #[arg(long, env = "KEYWAY_STREAMS_PER_CONNECTOR")]
    pub streams_per_connector: Option<usize>,
}

/// Reads the config file (if any) and merges it with the flags. `data_dir` and
/// `connectors` are the global flags' values when they were given explicitly.
pub fn config(
    args: &ServeArgs,
    data_dir: Option<PathBuf>,
    database_url: Option<DatabaseUrl>,
    connectors: Option<Vec<PathBuf>>,
) -> anyhow::Result<ServeConfig> {
    let file = match &args.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    ServeConfig::merge(
        file,
        Overrides {
            listen: args.listen.clone(),
            public_url: args.public_url.clone(),
            data_dir,
            database_url,
            connectors,
            allow_private_networks: args.allow_private_networks.clone(),
            memory_mib: args.memory_mib,
            deadline_seconds: args.deadline_seconds,
            max_concurrent_invocations: args.max_concurrent,
            max_concurrent_per_key: args.max_concurrent_per_key,
            max_body_bytes: args.max_body_bytes,
            shutdown_grace_seconds: args.shutdown_grace_seconds,
            header_read_timeout_seconds: args.header_read_timeout_seconds,
            body_read_timeout_seconds: args.body_read_timeout_seconds,
            idle_timeout_seconds: args.idle_timeout_seconds,
            sandbox: args.sandbox,
            sandbox_listen: args.sandbox_listen.clone(),
            refresh_interval_seconds: args.refresh_interval_seconds,
            refresh_ahead_seconds: args.refresh_ahead_seconds,
            no_streams: args.no_streams,
            streams_per_connector: args.streams_per_connector,
        },
    )
}
