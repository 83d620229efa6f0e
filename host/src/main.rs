//! The `keyway` binary: parses the command line, sets up logging, and hands each command
//! to its module in `keyway_host::cli`. Errors are printed with their context chain and
//! exit with status 2 (a command's own "no" is status 1).

use clap::{Parser, Subcommand, ValueEnum};
use keyway_host::cli::{call, connectors, records, validate};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "keyway", version, about = "Keyway connector runtime host")]
struct Cli {
    /// Where Keyway keeps its database, key file and compiled components.
    #[arg(
        long,
        global = true,
        env = "KEYWAY_DATA_DIR",
        default_value = ".keyway"
    )]
    data_dir: PathBuf,
    /// Log filter (tracing syntax, for example `info,keyway=debug`).
    #[arg(long, global = true, env = "KEYWAY_LOG", default_value = "info")]
    log: String,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one route of a connector in the sandbox and print its answer.
    Call(call::CallArgs),
    /// Check connector manifests; print every problem as `<file>: <pointer>: <message>`.
    Validate(validate::ValidateArgs),
    /// Inspect connectors.
    #[command(subcommand)]
    Connectors(connectors::ConnectorsCommand),
    /// Print the records a connection ingested.
    Records(records::RecordsArgs),
}

fn init_logging(cli: &Cli) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .map_err(|e| anyhow::anyhow!("--log {:?}: {e}", cli.log))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    init_logging(&cli)?;
    match &cli.command {
        Command::Call(args) => call::run(args, &cli.data_dir).await,
        Command::Validate(args) => validate::run(args),
        Command::Connectors(cmd) => connectors::run(cmd, &cli.data_dir).await,
        Command::Records(args) => records::run(args, &cli.data_dir),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keyway: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keyway: {e:#}");
            ExitCode::from(2)
        }
    }
}
