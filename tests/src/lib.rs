//! Shared pieces of the workspace-level tests: the paths of the components the build
//! script compiled, and the paths of the example connectors' directories.

use std::path::PathBuf;

/// Paths of compiled components, one `&str` constant per package (see `build.rs`).
pub mod components {
    include!(concat!(env!("OUT_DIR"), "/components.rs"));
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The directory of the example connector `name` (`connectors/<name>`).
pub fn connector_dir(name: &str) -> PathBuf {
    workspace_root().join("connectors").join(name)
}

pub mod artifacts;
pub mod backend;
pub mod console;
pub mod logs;
pub mod oidc;

/// The master key the test suite's component cache is authenticated with (a fixed test
/// key, so every test process trusts the entries the others wrote).
const TEST_CACHE_MASTER_KEY: &str = "a2V5d2F5LXRlc3RzLWNvbXBvbmVudC1jYWNoZS1rZXk=";

/// A runtime configuration for tests: the defaults, with the compiled-component cache in
/// the build directory of this crate so each component is compiled once per build, not
/// once per test.
pub fn test_runtime_config() -> keyway_host::runtime::RuntimeConfig {
    let master = keyway_host::store::MasterKey::from_base64(TEST_CACHE_MASTER_KEY, "test key")
        .expect("the test cache key is valid");
    keyway_host::runtime::RuntimeConfig {
        cache_dir: Some(PathBuf::from(concat!(env!("OUT_DIR"), "/component-cache"))),
        cache_key: Some(keyway_host::runtime::CacheKey::from_master(&master)),
        ..Default::default()
    }
}
/// The configuration of a host whose data is in `data` and whose connectors are in
/// `connectors`, as the end-to-end tests run it: providers and APIs on loopback may be
/// reached, and the test runtime's component cache is used.
pub fn loopback_services_config(
    data: PathBuf,
    connectors: Vec<PathBuf>,
) -> keyway_host::services::ServicesConfig {
    let mut config = services_config(data, connectors);
    config.egress.allowed_cidrs = vec!["127.0.0.1/32".parse().expect("cidr")];
    config.runtime = test_runtime_config();
    config
}

/// `ServicesConfig::new(data, connectors)` on this run's backend (`backend.rs`): the
/// store in `data`, or in `data`'s PostgreSQL database.
pub fn services_config(
    data: PathBuf,
    connectors: Vec<PathBuf>,
) -> keyway_host::services::ServicesConfig {
    let database = backend::database_url_for(&data);
    let mut config = keyway_host::services::ServicesConfig::new(data, connectors);
    config.database = database;
    config
}

pub mod pages;
pub mod provider;
pub mod server;

/// The `keyway` binary of this build (built on demand when a test runs alone).
pub fn keyway_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/<profile>/keyway
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let bin = profile_dir.join(format!("keyway{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let status = std::process::Command::new(cargo)
            .current_dir(workspace_root())
            .args(["build", "-p", "keyway-host", "--bin", "keyway"])
            .status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "building the keyway binary failed"
        );
    }
    bin
}

/// `keyway` run on the data directory `data_dir` (`KEYWAY_DATA_DIR`), with its store on
/// this run's backend (`KEYWAY_DATABASE_URL` of `data_dir`'s database on PostgreSQL; on
/// SQLite none, whatever the test process's environment says).
pub fn keyway_command(data_dir: &std::path::Path) -> std::process::Command {
    keyway_command_on(data_dir, backend::database_for(data_dir).as_deref())
}

/// `keyway` run on the data directory `data_dir` whose store is in the PostgreSQL
/// database `database`, or in SQLite in `data_dir` when `None`.
pub fn keyway_command_on(
    data_dir: &std::path::Path,
    database: Option<&str>,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(keyway_bin());
    cmd.env("KEYWAY_DATA_DIR", data_dir);
    match database {
        Some(url) => cmd.env("KEYWAY_DATABASE_URL", url),
        None => cmd.env_remove("KEYWAY_DATABASE_URL"),
    };
    cmd
}

/// A context for `connector`'s connection `connection` with one secret setting,
/// `api_token`, that the guest may read: the shape the redaction tests need.
pub fn readable_secret_context(
    connector: &str,
    connection: &str,
    value: &str,
) -> keyway_host::context::ConnectionContext {
    use keyway_host::context::{ConnectionContext, Grants};
    use secrecy::SecretString;
    ConnectionContext::builder(connector)
        .connection(connection)
        .secret("api_token", SecretString::from(value))
        .grants(Grants {
            readable_secrets: ["api_token".to_string()].into(),
            secret_settings: ["api_token".to_string()].into(),
            ..Grants::default()
        })
        .build()
}
