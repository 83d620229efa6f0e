//! Revoking a connection: the provider's RFC 7009 endpoint is called for the refresh token
//! (or the access token when there is none), then the tokens are deleted and the connection
//! kept as `revoked`.
//!
//! Owns: `revoke_connection`.
//! Must not: keep local tokens because the provider could not be reached (the operator asked
//! for them to be gone; the outcome says what the provider answered).

use super::client::{self, RevokeKind};
use super::http::OAuthHttp;
use super::provider::ProviderConfig;
use crate::store::{ClientCredentials, ConnectionStatus, Store, StoreError};

/// What the provider said about a revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderRevocation {
    /// The provider confirmed.
    Revoked,
    /// The manifest names no revocation endpoint.
    NoEndpoint,
    /// There were no tokens to revoke.
    NoTokens,
    /// The call failed; local tokens were deleted anyway.
    Failed(String),
}

/// Revokes at the provider (when possible) and deletes the local tokens.
pub async fn revoke_connection(
    store: &Store,
    http: &OAuthHttp,
    p: &ProviderConfig,
    creds: Option<&ClientCredentials>,
    connection_id: &str,
) -> Result<ProviderRevocation, StoreError> {
    let tokens = store.tokens(connection_id)?;
    let outcome = match (&tokens, &p.revocation_url, creds) {
        (None, _, _) => ProviderRevocation::NoTokens,
        (Some(_), None, _) | (Some(_), Some(_), None) => ProviderRevocation::NoEndpoint,
        (Some(t), Some(url), Some(creds)) => {
            let (token, kind) = match &t.refresh_token {
                Some(rt) => (rt, RevokeKind::Refresh),
                None => (&t.access_token, RevokeKind::Access),
            };
            match client::revoke(http, p, creds, url, token, kind).await {
                Ok(()) => ProviderRevocation::Revoked,
                Err(f) => ProviderRevocation::Failed(f.to_string()),
            }
        }
    };
    store.delete_tokens(connection_id, ConnectionStatus::Revoked)?;
    Ok(outcome)
}
