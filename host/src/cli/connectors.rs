//! `keyway connectors list <dir>...`: each connector's key, version, auth options and
//! routes. A
//! directory that holds connector directories (like `connectors/`) lists each of them.
//! Two directories declaring one key are both reported as errors, as `serve` skips both.

use crate::catalog::{ConnectorIndex, connector_dirs};
use crate::manifest::MANIFEST_FILE;
use crate::registry;
use crate::runtime::Runtime;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConnectorsCommand {
    /// Show each connector's key, version and routes.
    List {
        /// Connector directories, or directories of connector directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
}

pub async fn run(cmd: &ConnectorsCommand, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let ConnectorsCommand::List { dirs } = cmd;
    let runtime = Runtime::new(super::cached_runtime_config(data_dir)?)?;
    let index = ConnectorIndex::scan(dirs);
    let mut failed = false;
    let mut found = 0;
    for dir in dirs {
        for connector in connector_dirs(dir) {
            found += 1;
            if let Some(ambiguous) = index.ambiguity(&connector) {
                failed = true;
                eprintln!("{}: {ambiguous}", connector.display());
                continue;
            }
            match registry::load(&runtime, &connector, None).await {
                Ok(loaded) => {
                    let c = loaded.connector();
                    println!("{} {} ({})", c.key(), c.version(), connector.display());
                    for option in c.auth_options() {
                        let (Some(name), Some(kind)) = (&option.name, option.kind) else {
                            continue;
                        };
                        let settings: Vec<&str> = option
                            .settings_schema
                            .properties()
                            .keys()
                            .map(String::as_str)
                            .collect();
                        println!(
                            "  auth option {name} ({}): {} [settings: {}]",
                            kind.as_str(),
                            option.title.as_deref().unwrap_or(""),
                            settings.join(", ")
                        );
                    }
                    for route in loaded.component.routes() {
                        println!(
                            "  {:<6} {:<32} {}",
                            route.method.as_str(),
                            route.path,
                            route.auth.as_str()
                        );
                    }
                }
                Err(e) => {
                    failed = true;
                    eprintln!("{e}");
                }
            }
        }
    }
    if found == 0 {
        eprintln!("no connector found (a connector directory holds {MANIFEST_FILE})");
        failed = true;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
