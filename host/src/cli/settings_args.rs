//! Settings given on the command line: `--setting k=v` for plain settings, and
//! `--secret-env NAME=VAR` for secret ones, whose values come from the environment so
//! they never appear in argv or shell history.

use crate::manifest::AuthOption;
use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// Splits `k=v`; the error names the argument.
pub(crate) fn split_pair<'a>(arg: &'a str, flag: &str) -> anyhow::Result<(&'a str, &'a str)> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v)),
        _ => bail!("{flag} {arg:?}: expected NAME=VALUE"),
    }
}

/// The raw settings map from `--setting` and `--secret-env` arguments. A value for a
/// property the schema declares as a string stays a string; otherwise it is read as JSON
/// when it parses (`50`, `true`, `["a"]`) and as a string when it does not.
pub fn collect(
    auth: &AuthOption,
    settings: &[String],
    secret_envs: &[String],
) -> anyhow::Result<Map<String, Value>> {
    let schema = &auth.settings_schema;
    let mut map = Map::new();
    for arg in settings {
        let (name, value) = split_pair(arg, "--setting")?;
        if let Some(name) = schema.first_secret([name]) {
            bail!(
                "--setting {name}: \"{name}\" is a secret setting; pass it with --secret-env {name}=ENV_VAR so it stays out of argv"
            );
        }
        map.insert(name.to_string(), schema.parse_text(name, value));
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
