//! The token manager's in-memory cache: the last access token handed out per connection,
//! its generation and expiry, and the scopes it was granted and lacks. A hit costs no
//! database round trip and no allocation beyond the returned token.
//!
//! Owns: [`TokenCache`] and the answers it can give alone (a live token, missing scopes).
//! Must not: read the store or talk to a provider (`flight.rs` does), or expose a token
//! other than through an [`AccessToken`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use secrecy::SecretString;

use super::{AccessToken, TokenError, Want};
use crate::oauth::provider::ProviderConfig;
use crate::store::{StoredTokens, now_unix};

struct Cached {
    token: SecretString,
    generation: i64,
    expires_at: Option<i64>,
    token_type: Option<Arc<str>>,
    missing: Arc<[String]>,
    granted: Arc<[String]>,
}

/// Tokens by connection id.
#[derive(Default)]
pub(super) struct TokenCache {
    entries: RwLock<HashMap<String, Cached>>,
}

impl TokenCache {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Cached>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached token if it lives at least `min` more seconds; missing scopes are an error.
    pub(super) fn get(
        &self,
        connection_id: &str,
        min: i64,
    ) -> Result<Option<AccessToken>, TokenError> {
        let cache = self.read();
        let Some(c) = cache.get(connection_id) else {
            return Ok(None);
        };
        if c.expires_at.is_some_and(|e| e - now_unix() < min) {
            return Ok(None);
        }
        if !c.missing.is_empty() {
            return Err(TokenError::MissingScopes {
                connection: connection_id.to_string(),
                missing: c.missing.to_vec(),
            });
        }
        Ok(Some(AccessToken {
            secret: c.token.clone(),
            generation: c.generation,
            expires_at: c.expires_at,
            token_type: c.token_type.clone(),
        }))
    }

    /// The cached token if it satisfies `want`.
    pub(super) fn get_for(
        &self,
        connection_id: &str,
        want: &Want,
    ) -> Result<Option<AccessToken>, TokenError> {
        Ok(match want {
            Want::MinTtl(min) => self.get(connection_id, *min)?,
            Want::Replace(rejected) => self
                .get(connection_id, 1)?
                .filter(|t| t.generation != *rejected),
        })
    }

    /// The scopes granted with the cached token, if one is cached.
    pub(super) fn granted(&self, connection_id: &str) -> Option<Vec<String>> {
        self.read().get(connection_id).map(|c| c.granted.to_vec())
    }

    /// Keeps `t` as the connection's token (scopes checked against `p`) and hands it out.
    pub(super) fn remember(
        &self,
        connection_id: &str,
        t: &StoredTokens,
        p: &ProviderConfig,
    ) -> AccessToken {
        let granted: Vec<String> = t.scopes.clone().unwrap_or_default();
        let missing = if t.scopes.is_some() {
            p.missing_scopes(&granted)
        } else {
            Vec::new()
        };
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                connection_id.to_string(),
                Cached {
                    token: t.access_token.clone(),
                    generation: t.generation,
                    expires_at: t.expires_at,
                    token_type: t.token_type.as_deref().map(Arc::from),
                    missing: missing.into(),
                    granted: granted.into(),
                },
            );
        AccessToken {
            secret: t.access_token.clone(),
            generation: t.generation,
            expires_at: t.expires_at,
            token_type: t.token_type.as_deref().map(Arc::from),
        }
    }

    /// An error when the cached token lacks scopes the provider configuration requires.
    pub(super) fn check_scopes(&self, connection_id: &str) -> Result<(), TokenError> {
        if let Some(c) = self.read().get(connection_id)
            && !c.missing.is_empty()
        {
            return Err(TokenError::MissingScopes {
                connection: connection_id.to_string(),
                missing: c.missing.to_vec(),
            });
        }
        Ok(())
    }

    /// Forgets the connection's token.
    pub(super) fn invalidate(&self, connection_id: &str) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(connection_id);
    }
}
