//! `keyway:connector/oauth`: the connection's access token. Refused with `not-permitted`
//! when the manifest has no OAuth block or keeps the token in strict custody, and when
//! the invocation has no stored grant behind it (an ad-hoc call with no connection).
//! A token handed out is added to the invocation's redactor. `access-token-for` hands out
//! an app connection's token by name, only when the manifest grants it `token`.

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

    async fn access_token_for(
        &mut self,
        name: String,
        min_ttl_seconds: u32,
    ) -> wasmtime::Result<Result<wit::ConnectionToken, WitError>> {
        let shown = crate::egress::shown_name(&name);
        if !self.conn.grants.readable_apps.contains(&name) {
            let hint = if self.conn.grants.injectable_apps.contains(&name) {
                " (it is granted [\"inject\"] only: use http auth oauth-connection so the host injects it)"
            } else {
                ""
            };
            return Ok(Err(wit_error(
                ErrorCode::NotPermitted,
                format!(
                    "connector `{}` may not read the token of app connection `{shown}`: the manifest needs permissions.connections.{shown}: [\"token\"]{hint}",
                    self.conn.connector
                ),
            )));
        }
        let Some(source) = self.conn.app_tokens.get(&name).cloned() else {
            return Ok(Err(wit_error(
                ErrorCode::NotFound,
                format!(
                    "app connection `{shown}` is not defined on this host; create it with `keyway app-connections create {shown}`"
                ),
            )));
        };
        let details = match source
            .token_details(Duration::from_secs(u64::from(min_ttl_seconds)))
            .await
        {
            Ok(d) => d,
            Err(e) => {
                return Ok(Err(wit_error(to_wit_code(e.code), self.redact(&e.message))));
            }
        };
        self.learn_secret(&details.access_token);
        let granted_scopes = match source.granted_scopes().await {
            Ok(scopes) => scopes,
            Err(e) => {
                return Ok(Err(wit_error(to_wit_code(e.code), self.redact(&e.message))));
            }
        };
        Ok(Ok(wit::ConnectionToken {
            access_token: details.access_token,
            token_type: details.token_type,
            expires_at: details.expires_at,
            granted_scopes,
        }))
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
