//! `keyway:connector/oauth`: the connection's access token. Refused with `not-permitted`
//! when the manifest has no OAuth block or keeps the token in strict custody, and when
//! the invocation has no stored grant behind it (an ad-hoc call with no connection).
//! A token handed out is added to the invocation's redactor.

use super::{ErrorCode, WitError, wit_error};
use crate::egress::NO_STORED_GRANT;
use crate::egress::TokenErrorCode;
use crate::runtime::HostState;
use crate::runtime::wit::oauth as wit;
use std::time::Duration;

fn to_wit_code(code: TokenErrorCode) -> ErrorCode {
    match code {
        TokenErrorCode::ReauthRequired => ErrorCode::ReauthRequired,
        TokenErrorCode::MissingScopes => ErrorCode::MissingScopes,
        TokenErrorCode::ProviderUnavailable => ErrorCode::ProviderUnavailable,
        TokenErrorCode::NotPermitted => ErrorCode::NotPermitted,
        TokenErrorCode::Internal => ErrorCode::Internal,
    }
}

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
        min_ttl_seconds: u32,
    ) -> wasmtime::Result<Result<String, WitError>> {
        if let Some(reason) = self.oauth_refusal() {
            return Ok(Err(wit_error(ErrorCode::NotPermitted, reason)));
        }
        let Some(tokens) = self.conn.tokens.clone() else {
            return Ok(Err(wit_error(ErrorCode::NotPermitted, NO_STORED_GRANT)));
        };
        match tokens
            .token(Duration::from_secs(u64::from(min_ttl_seconds)))
            .await
        {
            Ok(token) => {
                self.learn_secret(&token);
                Ok(Ok(token))
            }
            Err(e) => Ok(Err(wit_error(to_wit_code(e.code), self.redact(&e.message)))),
        }
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
        match &self.conn.tokens {
            Some(tokens) => match tokens.granted_scopes().await {
                Ok(scopes) => Ok(Ok(scopes)),
                Err(e) => Ok(Err(wit_error(to_wit_code(e.code), self.redact(&e.message)))),
            },
            None => Ok(Err(wit_error(ErrorCode::NotPermitted, NO_STORED_GRANT))),
        }
    }
}
