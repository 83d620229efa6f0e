//! `keyway:connector/settings`: the connection's non-secret settings. Secret settings are
//! refused here (they go through `secrets`, which checks the manifest's grant).

use super::{ErrorCode, WitError, wit_error};
use crate::runtime::HostState;
use crate::runtime::wit::settings as wit;
use serde_json::Value;

impl wit::Host for HostState {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<Option<String>, WitError>> {
        let conn = &self.conn;
        if conn.grants.secret_settings.contains(&name) || conn.secrets.contains_key(&name) {
            return Ok(Err(wit_error(
                ErrorCode::NotPermitted,
                format!(
                    "setting `{name}` is secret; read it with secrets.get if the manifest grants it"
                ),
            )));
        }
        Ok(Ok(conn.settings.get(&name).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })))
    }
}
