//! `keyway serve` as the benchmarks run it: the release binary, its own data directory,
//! a connectors directory, an admin key passed through the environment, warnings-only
//! logs; plus the set-up a route call needs (a connection and an API key).

use crate::procs::{ServerProc, sibling_bin};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `keyway` binary under measurement, when not the one built beside this suite.
static BINARY: OnceLock<PathBuf> = OnceLock::new();

/// Measures `path` instead of the `keyway` built beside this suite (for before/after
/// figures of a change).
pub fn use_binary(path: PathBuf) {
    let _ = BINARY.set(path);
}

fn binary() -> anyhow::Result<PathBuf> {
    match BINARY.get() {
        Some(p) => Ok(p.clone()),
        None => sibling_bin("keyway"),
    }
}

pub struct Keyway {
    pub proc: ServerProc,
    admin_key: String,
}

/// A key that differs per run, for a server that lives only as long as the run.
fn run_key(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{nanos:x}-{:x}", std::process::id())
}

/// A connectors directory holding `hello` (its manifest and the built component).
pub fn hello_connectors(dir: &Path) -> anyhow::Result<()> {
    let hello = dir.join("hello");
    std::fs::create_dir_all(&hello)?;
    std::fs::copy(
        keyway_tests::connector_dir("hello").join("connector.json"),
        hello.join("connector.json"),
    )
    .context("copying hello's manifest")?;
    std::fs::copy(
        keyway_tests::components::HELLO,
        hello.join("connector.wasm"),
    )
    .context("copying hello's component")?;
    Ok(())
}

impl Keyway {
    /// Starts `keyway serve` on an ephemeral loopback port.
    pub fn start(data_dir: &Path, connectors: &Path) -> anyhow::Result<Keyway> {
        let admin_key = run_key("bench-admin");
        let mut cmd = Command::new(binary()?);
        // wrk's 64 connections share one API key: its share is the whole cap here.
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--max-concurrent-per-key", "64"])
            .env("KEYWAY_DATA_DIR", data_dir)
            .env("KEYWAY_CONNECTORS", connectors)
            .env("KEYWAY_ADMIN_KEY", &admin_key)
            .env("KEYWAY_LOG", "warn")
            .env_remove("KEYWAY_MASTER_KEY")
            .env_remove("KEYWAY_SANDBOX");
        let proc = ServerProc::spawn_announced("keyway serve", cmd, "keyway listening on ")?;
        Ok(Keyway { proc, admin_key })
    }

    /// Creates the connection `name` of `connector`, with no settings.
    pub async fn create_connection(&self, name: &str, connector: &str) -> anyhow::Result<()> {
        let res = reqwest::Client::new()
            .post(self.proc.url("/v1/connections"))
            .bearer_auth(&self.admin_key)
            .json(&serde_json::json!({ "name": name, "connector": connector }))
            .send()
            .await
            .context("creating the connection")?;
        if !res.status().is_success() {
            bail!(
                "creating connection {name}: {} {}",
                res.status(),
                res.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// The connectors the server loaded and the ones it skipped (with why), from
    /// `GET /v1/connectors`.
    pub async fn connectors(&self) -> anyhow::Result<(usize, Vec<String>)> {
        let v: serde_json::Value = reqwest::Client::new()
            .get(self.proc.url("/v1/connectors"))
            .bearer_auth(&self.admin_key)
            .send()
            .await
            .context("listing connectors")?
            .json()
            .await
            .context("reading the connector list")?;
        let loaded = v["connectors"].as_array().map_or(0, Vec::len);
        let skipped = v["skipped"]
            .as_array()
            .map(|a| a.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default();
        Ok((loaded, skipped))
    }

    /// A new API key from `keyway api-keys create`, read from its stdout.
    pub fn create_api_key(&self, data_dir: &Path) -> anyhow::Result<String> {
        let out = Command::new(binary()?)
            .args(["api-keys", "create", "--name", "bench"])
            .env("KEYWAY_DATA_DIR", data_dir)
            .env("KEYWAY_LOG", "warn")
            .env_remove("KEYWAY_MASTER_KEY")
            .output()
            .context("running keyway api-keys create")?;
        if !out.status.success() {
            bail!(
                "keyway api-keys create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("kw_"))
            .map(str::to_string)
            .context("keyway api-keys create printed no key")
    }
}
