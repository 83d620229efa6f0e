//! Settings given on the command line: `--setting k=v` for plain settings, and
//! `--secret-env NAME=VAR` for secret ones, whose values come from the environment so
//! they never appear in argv or shell history.

use crate::manifest::Connector;
use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// Splits `k=v`; the error names the argument.
pub fn split_pair<'a>(arg: &'a str, flag: &str) -> anyhow::Result<(&'a str, &'a str)> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v)),
        _ => bail!("{flag} {arg:?}: expected NAME=VALUE"),
    }
}

/// A command-line value for the setting `name`: a string when the schema declares a
/// string, otherwise JSON when it parses (`50`, `true`, `["a"]`) and a string when not.
pub fn parse_value(connector: &Connector, name: &str, value: &str) -> Value {
    let schema = &connector.connection().settings_schema;
    if schema.property(name).is_some_and(|p| p.string) {
        return Value::String(value.to_string());
    }
    serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()))
}

/// The raw settings map from `--setting` and `--secret-env` arguments. A value for a
/// property the schema declares as a string stays a string; otherwise it is read as JSON
/// when it parses (`50`, `true`, `["a"]`) and as a string when it does not.
pub fn collect(
    connector: &Connector,
    settings: &[String],
    secret_envs: &[String],
) -> anyhow::Result<Map<String, Value>> {
    let schema = &connector.connection().settings_schema;
    let mut map = Map::new();
    for arg in settings {
        let (name, value) = split_pair(arg, "--setting")?;
        if schema.is_secret(name) {
            bail!(
                "--setting {name}: \"{name}\" is a secret setting; pass it with --secret-env {name}=ENV_VAR so it stays out of argv"
            );
        }
        map.insert(name.to_string(), parse_value(connector, name, value));
    }
    for arg in secret_envs {
        let (name, var) = split_pair(arg, "--secret-env")?;
        let value = std::env::var(var).with_context(|| {
            format!("--secret-env {name}={var}: environment variable {var} is not set")
        })?;
        map.insert(name.to_string(), Value::String(value));
    }
    Ok(map)
}
