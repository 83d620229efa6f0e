//! `keyway:connector/oauth`: the connection's access token. Refused with `not-permitted`
//! when the manifest has no OAuth block or keeps the token in strict custody, and when
//! the invocation has no OAuth custody behind it (an ad-hoc call with no connection).

use super::{ErrorCode, WitError, wit_error};
use crate::runtime::HostState;
use crate::runtime::wit::oauth as wit;

impl HostState {
    /// Why this invocation may not read the token, if it may not.
    fn oauth_refusal(&self) -> Option<String> {
        let grants = &self.conn.grants;
        if !grants.has_oauth {
            return Some(format!(
                "connector `{}` declares no connection.oauth",
                self.conn.connector
            ));
        }
        if !grants.expose_access_token {
            return Some(
                "the manifest keeps the access token in strict custody (exposeAccessToken: false); \
                 use http auth oauth so the host injects it"
                    .to_string(),
            );
        }
        None
    }
}

impl wit::Host for HostState {
    async fn access_token(
        &mut self,
        _min_ttl_seconds: u32,
    ) -> wasmtime::Result<Result<String, WitError>> {
        if let Some(reason) = self.oauth_refusal() {
            return Ok(Err(wit_error(ErrorCode::NotPermitted, reason)));
        }
        Ok(Err(wit_error(
            ErrorCode::NotPermitted,
            "this invocation has no stored connection, so there is no OAuth token to give",
        )))
    }

    async fn granted_scopes(&mut self) -> wasmtime::Result<Result<Vec<String>, WitError>> {
        if !self.conn.grants.has_oauth {
            return Ok(Err(wit_error(
                ErrorCode::NotPermitted,
                format!(
                    "connector `{}` declares no connection.oauth",
                    self.conn.connector
                ),
            )));
        }
        Ok(Err(wit_error(
            ErrorCode::NotPermitted,
            "this invocation has no stored connection, so there is no OAuth grant",
        )))
    }
}
