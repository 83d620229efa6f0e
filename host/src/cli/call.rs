//! `keyway call`: runs one route of a connector in the sandbox and prints the status and
//! the body (pretty JSON when it is JSON). A non-2xx answer exits 1.

use super::{CliError, settings_args};
use crate::egress::{Egress, EgressConfig};
use crate::registry::{self, Doors};
use crate::runtime::{RouteRequest, RouteResponse, Runtime};
use crate::services::{ServiceError, Services, ServicesConfig};
use crate::types::Method;
use anyhow::{Context, anyhow};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct CallArgs {
    /// The connector directory (or its connector.json).
    pub connector: PathBuf,
    /// HTTP method of the route: GET, POST, PUT, PATCH or DELETE.
    pub method: String,
    /// The route's path, for example /sync/orders.
    pub path: String,
    /// Request body (JSON).
    #[arg(long)]
    pub body: Option<String>,
    /// A plain setting, NAME=VALUE (repeatable).
    #[arg(long = "setting", value_name = "NAME=VALUE")]
    pub settings: Vec<String>,
    /// A secret setting read from an environment variable, NAME=ENV_VAR (repeatable).
    #[arg(long = "secret-env", value_name = "NAME=ENV_VAR")]
    pub secret_envs: Vec<String>,
    /// The connector's auth option whose settings `--setting` and `--secret-env` give,
    /// when it offers several.
    #[arg(long, value_name = "NAME", conflicts_with = "connection")]
    pub auth_option: Option<String>,
    /// A query parameter, NAME=VALUE (repeatable).
    #[arg(long = "query", value_name = "NAME=VALUE")]
    pub query: Vec<String>,
    /// The component to run instead of the one found for the connector.
    #[arg(long)]
    pub component: Option<PathBuf>,
    /// Run for this stored connection: settings, secrets, tokens and grants come from the
    /// store and the connector's manifest (`--setting` and `--secret-env` are refused).
    #[arg(long, conflicts_with_all = ["settings", "secret_envs", "component"])]
    pub connection: Option<String>,
    /// Allow outbound requests to this CIDR despite the private-address block
    /// (for a provider on this machine, for example 127.0.0.1/32). Repeatable.
    #[arg(long = "allow-cidr", value_name = "CIDR")]
    pub allow_cidrs: Vec<String>,
}

pub async fn run(
    args: &CallArgs,
    data_dir: &std::path::Path,
    database: Option<&crate::store::DatabaseUrl>,
    connector_dirs: &[PathBuf],
) -> Result<ExitCode, CliError> {
    let method = Method::parse(&args.method).ok_or_else(|| {
        anyhow!(
            "method {:?}: expected GET, POST, PUT, PATCH or DELETE",
            args.method
        )
    })?;
    if !args.path.starts_with('/') {
        return Err(anyhow!("path {:?}: a route path starts with `/`", args.path).into());
    }
    let body = match &args.body {
        Some(text) => {
            serde_json::from_str::<serde_json::Value>(text).context("--body is not valid JSON")?;
            text.as_bytes().to_vec()
        }
        None => Vec::new(),
    };
    let allowed_cidrs = super::parse_cidrs(&args.allow_cidrs)?;
    let mut req = RouteRequest::new(method, args.path.clone());
    req.body = body;
    for q in &args.query {
        let (k, v) = settings_args::split_pair(q, "--query")?;
        req.query.push((k.to_string(), v.to_string()));
    }
    if let Some(name) = &args.connection {
        let mut dirs = connector_dirs.to_vec();
        dirs.push(args.connector.clone());
        let mut config = ServicesConfig::new(data_dir.to_path_buf(), dirs);
        config.database = database.cloned();
        config.egress.allowed_cidrs = allowed_cidrs;
        let services = Services::open(config)?;
        return print_result(services.invoke(name, req).await.map_err(|e| match e {
            ServiceError::Invocation(failed) => CallError::Invoke {
                status: failed.http_status,
                code: failed.code,
                message: failed.message,
            },
            other => CallError::Other(other.into()),
        }));
    }
    let runtime =
        Runtime::new(super::cached_runtime_config(data_dir)?).map_err(ServiceError::from)?;
    let loaded = registry::load(&runtime, &args.connector, args.component.as_deref())
        .await
        .map_err(anyhow::Error::from)?;
    let auth = loaded
        .connector()
        .auth(args.auth_option.as_deref())
        .map_err(ServiceError::AuthChoice)?;
    let raw = settings_args::collect(auth, &args.settings, &args.secret_envs)?;
    let settings = auth
        .validate_settings(&raw)
        .map_err(|errors| ServiceError::Settings {
            connector: loaded.connector().key().to_string(),
            errors,
        })?;
    let egress = Egress::new(EgressConfig {
        allowed_cidrs,
        ..EgressConfig::default()
    })
    .map_err(|e| anyhow!("setting up outbound HTTP: {}", e.message))?;
    let doors = Doors {
        egress: Some(Arc::new(egress)),
        ..Doors::default()
    };
    let ctx = loaded.context(None, auth, &settings, &doors);
    print_result(
        loaded
            .component
            .invoke(&ctx, req)
            .await
            .map_err(|e| CallError::Invoke {
                status: e.http_status(),
                code: e.code(),
                message: e.to_string(),
            }),
    )
}

enum CallError {
    Invoke {
        status: u16,
        code: &'static str,
        message: String,
    },
    Other(CliError),
}

/// Prints the status line and the body; the host's own answers (404, 405, trap, deadline)
/// print in the same shape as a route's error.
fn print_result(result: Result<RouteResponse, CallError>) -> Result<ExitCode, CliError> {
    let res = match result {
        Ok(res) => res,
        Err(CallError::Invoke {
            status,
            code,
            message,
        }) => {
            println!("{status}");
            let body = serde_json::json!({ "error": { "code": code, "message": message } });
            println!("{body:#}");
            return Ok(ExitCode::from(1));
        }
        Err(CallError::Other(e)) => return Err(e),
    };
    Ok(print_answer(res.status, &res.body))
}

/// Prints a route's status on one line and its body after it (pretty JSON when it is
/// JSON); the exit code is 1 for a non-2xx status.
pub(crate) fn print_answer(status: u16, body: &[u8]) -> ExitCode {
    println!("{status}");
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => println!("{json:#}"),
        Err(_) => println!("{}", String::from_utf8_lossy(body)),
    }
    if (200..300).contains(&status) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
