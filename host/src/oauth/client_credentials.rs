//! Connecting with the client-credentials grant: no browser, the token is fetched directly
//! and stored as the connection's authorization.
//!
//! Owns: `connect_client_credentials`.
//! Must not: retry (an operator runs it interactively and sees the error at once).

use std::collections::BTreeMap;

use super::authorize::AuthorizationOutcome;
use super::classify::Failure;
use super::client;
use super::http::OAuthHttp;
use super::provider::{GrantType, ProviderConfig};
use super::refresh::token_write;
use crate::store::{ClientCredentials, Store, StoreError, now_unix};

#[derive(Debug, thiserror::Error)]
pub enum ClientCredentialsError {
    #[error("the connector does not use the client_credentials grant")]
    WrongGrant,
    #[error("the token request failed: {0}")]
    Token(Failure),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Fetches a token with the client-credentials grant and stores it; the connection becomes
/// `connected`.
pub async fn connect_client_credentials(
    store: &Store,
    http: &OAuthHttp,
    p: &ProviderConfig,
    creds: &ClientCredentials,
    connection_id: &str,
) -> Result<AuthorizationOutcome, ClientCredentialsError> {
    if p.grant_type != GrantType::ClientCredentials {
        return Err(ClientCredentialsError::WrongGrant);
    }
    let set = client::client_credentials(http, p, creds)
        .await
        .map_err(ClientCredentialsError::Token)?;
    let granted = set.scopes.clone().unwrap_or_else(|| p.scopes.clone());
    let has_refresh_token = set.refresh_token.is_some();
    let mut write = token_write(set, now_unix());
    write.scopes = Some(granted.clone());
    let expires_at = write.expires_at;
    store.save_authorized_tokens(connection_id, &write, &granted, &BTreeMap::new())?;
    Ok(AuthorizationOutcome {
        connection_id: connection_id.to_string(),
        missing_scopes: p.missing_scopes(&granted),
        granted_scopes: granted,
        expires_at,
        has_refresh_token,
        id_claims: None,
        callback_params: BTreeMap::new(),
    })
}
