//! `keyway:connector/secrets`: secret settings, only those `permissions.secrets` grants
//! `read` on. The value crosses into the guest because the manifest asked for it; it is
//! still redacted from everything the host logs or stores.

use super::{ErrorCode, WitError, wit_error};
use crate::runtime::HostState;
use crate::runtime::wit::secrets as wit;
use secrecy::ExposeSecret;

impl wit::Host for HostState {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, WitError>> {
        let conn = &self.conn;
        if !conn.grants.readable_secrets.contains(&name) {
            return Ok(Err(wit_error(
                ErrorCode::NotPermitted,
                format!(
                    "the manifest does not grant read on secret `{name}` (permissions.secrets)"
                ),
            )));
        }
        match conn.secrets.get(&name) {
            Some(value) => Ok(Ok(value.expose_secret().to_string())),
            None => Ok(Err(wit_error(
                ErrorCode::NotFound,
                format!("the connection has no value for secret `{name}`"),
            ))),
        }
    }
}
