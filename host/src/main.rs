//! The `keyway` binary: parses the command line, sets up logging, and hands each command
//! to its module in `keyway_host::cli`. Errors are printed with their context chain and
//! exit with the status `CliError::exit_code` gives (a command's own "no" is status 1).

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use keyway_host::cli::new as new_cmd;
use keyway_host::cli::{
    CliError, api_keys, app_connections, apply, call, connections, connectors, credentials, keys,
    migrate_store, providers, records, serve, streams, validate, webhooks,
};
use keyway_host::services::{Services, ServicesConfig};
use keyway_host::store::DatabaseUrl;
use std::path::PathBuf;
use std::process::ExitCode;

/// Every request allocates on one thread and frees on another (the front hands the call to
/// the guests' runtime); mimalloc's per-thread free lists take that without the arena
/// locks and consolidation glibc's malloc showed in profiles under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// The store's database: `sqlite:PATH` (default: keyway.db in the data directory) or
    /// `postgres://USER@HOST:PORT/DATABASE`, shared by several `keyway serve` replicas.
    /// A PostgreSQL password is read from KEYWAY_DATABASE_PASSWORD, never from the URL.
    /// (Parsed after clap, whose own errors quote the value given.)
    #[arg(long, global = true, env = "KEYWAY_DATABASE_URL")]
    database_url: Option<String>,
    /// Directories holding connector directories; connections name their connector by key
    /// and it is looked up here (repeatable).
    #[arg(
        long = "connectors",
        global = true,
        env = "KEYWAY_CONNECTORS",
        value_delimiter = ',',
        default_value = "connectors"
    )]
    connector_dirs: Vec<PathBuf>,
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
    /// Run the HTTP server: management API, OAuth callback and route invocation.
    Serve(serve::ServeArgs),
    /// Keys that callers present to invoke routes over HTTP.
    #[command(subcommand, name = "api-keys")]
    ApiKeys(api_keys::ApiKeysCommand),
    /// Run one route of a connector in the sandbox and print its answer.
    Call(call::CallArgs),
    /// Check connector manifests; print every problem as `<file>: <pointer>: <message>`.
    Validate(validate::ValidateArgs),
    /// Inspect connectors.
    #[command(subcommand)]
    Connectors(connectors::ConnectorsCommand),
    /// Print the records a connection ingested.
    Records(records::RecordsArgs),
    /// Connection lifecycle: create, authorize, list, show, test, revoke, delete.
    Connections(connections::ConnectionsArgs),
    /// App connections: OAuth connections defined once by name, used by any route granted them.
    #[command(name = "app-connections")]
    AppConnections(app_connections::AppConnectionsArgs),
    /// Bring credentials, app connections and connections to what a keyway.toml declares.
    Apply(apply::ApplyArgs),
    /// OAuth app credentials (client secrets come from stdin or an environment variable).
    #[command(subcommand)]
    Credentials(credentials::CredentialsCommand),
    /// The master key that seals secrets at rest.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Copy the whole store into an empty database (SQLite or PostgreSQL, either way).
    #[command(name = "migrate-store")]
    MigrateStore(migrate_store::MigrateStoreArgs),
    /// A connection's scheduled syncs: list, run now, pause, resume, reset.
    Streams(streams::StreamsArgs),
    /// The history of stream runs.
    #[command(subcommand)]
    Runs(streams::RunsCommand),
    /// Start something new: `keyway new connector NAME [--oauth|--api-key]`.
    #[command(subcommand)]
    New(new_cmd::NewCommand),
    /// The provider catalog that `connection.oauth.provider` names: list, show.
    #[command(subcommand)]
    Providers(providers::ProvidersCommand),
    /// Provider webhooks: their paths, deliveries, retries of dead ones, test deliveries.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
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

/// Whether the global flags were given on the command line or in the environment (a
/// config file may only fill what they leave at their defaults).
struct Explicit {
    data_dir: bool,
    connector_dirs: bool,
}

async fn run(cli: Cli, explicit: Explicit) -> Result<ExitCode, CliError> {
    init_logging(&cli)?;
    let Cli {
        data_dir,
        database_url,
        connector_dirs,
        command,
        ..
    } = cli;
    let database_url = match database_url.as_deref().map(DatabaseUrl::parse) {
        None => None,
        Some(Ok(url)) => Some(url),
        Some(Err(e)) => {
            return Err(anyhow::anyhow!("--database-url (KEYWAY_DATABASE_URL): {e}").into());
        }
    };
    let database = database_url.as_ref();
    // The services of a command that needs no `--allow-cidr`.
    let services = |connector_dirs| {
        let mut config = ServicesConfig::new(data_dir.clone(), connector_dirs);
        config.database = database_url.clone();
        Services::open(config)
    };
    // The same, with the operator's `--allow-cidr` values.
    let services_with = |connector_dirs, allow_cidrs: &[String]| -> anyhow::Result<Services> {
        let mut config = keyway_host::cli::services_config(&data_dir, connector_dirs, allow_cidrs)?;
        config.database = database_url.clone();
        Ok(Services::open(config)?)
    };
    match command {
        Command::Serve(args) => {
            let config = serve::config(
                &args,
                explicit.data_dir.then_some(data_dir.clone()),
                database_url.clone(),
                explicit.connector_dirs.then_some(connector_dirs),
            )?;
            keyway_host::server::run(config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ApiKeys(cmd) => Ok(api_keys::run(cmd, &data_dir, database)?),
        Command::Call(args) => call::run(&args, &data_dir, database, &connector_dirs).await,
        Command::Validate(args) => Ok(validate::run(&args, &data_dir, database).await?),
        Command::Providers(cmd) => Ok(providers::run(&cmd)?),
        Command::Connectors(cmd) => Ok(connectors::run(&cmd, &data_dir).await?),
        Command::Records(args) => {
            let services = services(connector_dirs)?;
            records::run(&args, &services)
        }
        Command::Connections(args) => {
            let services = services_with(connector_dirs, &args.allow_cidrs)?;
            connections::run(args.command, &services).await
        }
        Command::AppConnections(args) => {
            let services = services_with(connector_dirs, &args.allow_cidrs)?;
            app_connections::run(args.command, &services).await
        }
        Command::Apply(args) => {
            apply::run(&args, &services_with(connector_dirs, &args.allow_cidrs)?)
        }
        Command::Credentials(cmd) => Ok(credentials::run(cmd, &data_dir, database).await?),
        Command::Keys(cmd) => Ok(keys::run(cmd, &data_dir, database).await?),
        Command::MigrateStore(args) => Ok(migrate_store::run(&args, &data_dir)?),
        Command::Streams(args) => {
            let services = services_with(connector_dirs, &args.allow_cidrs)?;
            streams::run(args.command, std::sync::Arc::new(services)).await
        }
        Command::New(cmd) => Ok(new_cmd::run(cmd)?),
        Command::Webhooks(cmd) => {
            let services = services(connector_dirs)?;
            webhooks::run(cmd, &services).await
        }
        Command::Runs(cmd) => {
            let services = services(connector_dirs)?;
            streams::run_runs(cmd, &services)
        }
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let given = |id: &str| {
        matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let explicit = Explicit {
        data_dir: given("data_dir"),
        connector_dirs: given("connector_dirs"),
    };
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
    match runtime.block_on(run(cli, explicit)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keyway: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
