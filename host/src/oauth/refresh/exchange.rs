//! One refresh at the provider, done while holding the connection's lease: the store
//! re-read under the lease, the token request with bounded jittered retries, the durable
//! write of the new tokens before anyone sees them, and the status change each outcome
//! implies (`invalid_grant` and kin: `reauth_required`; an outage: a cooldown, never a
//! revocation).
//!
//! Owns: `TokenManager::refresh_holding_lease`, the retries, backoff and jitter.
//! Must not: take or release the lease (`flight.rs` does), or put a token or client
//! secret in a log line or an error.

use std::time::Duration;

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

use super::source::ProviderError;
use super::{AccessToken, RefreshOutcome, RefreshPolicy, TokenError, TokenManager, token_write};
use crate::oauth::classify::Failure;
use crate::oauth::client;
use crate::oauth::hooks::{self, Hooked, merge};
use crate::oauth::id_token::IdTokenError;
use crate::oauth::provider::{GrantType, ProviderConfig, TokenSet};
use crate::store::{ClientCredentials, ConnectionRecord, ConnectionStatus, StoredTokens, now_unix};

impl TokenManager {
    /// The connection's stored tokens; none left means it was revoked meanwhile.
    fn stored_tokens(&self, record: &ConnectionRecord) -> Result<StoredTokens, TokenError> {
        self.store
            .tokens(&record.id)?
            .ok_or_else(|| TokenError::NotConnected {
                connection: record.name.clone(),
                status: ConnectionStatus::Revoked,
            })
    }

    pub(super) async fn refresh_holding_lease(
        &self,
        record: &ConnectionRecord,
        provider: &ProviderConfig,
        before: &StoredTokens,
    ) -> Result<AccessToken, TokenError> {
        let id = record.id.as_str();
        // Re-read under the lease: someone may have refreshed between our read and the lease.
        let current = self.stored_tokens(record)?;
        if current.generation != before.generation {
            return Ok(self.cache.remember(id, &current, provider));
        }
        let creds = self.credentials(record)?;
        match self
            .refresh_with_retries(
                provider,
                &creds,
                current.refresh_token.as_ref(),
                current.scopes.as_deref().unwrap_or_default(),
            )
            .await
        {
            Ok(Hooked {
                tokens: set,
                extras,
            }) => {
                if let Err(e) = self.check_id_token(record, provider, &creds, &set).await {
                    // The whole answer is suspect: nothing of it is stored or served.
                    self.note(RefreshOutcome::ReauthRequired);
                    let reason = format!("the refreshed id_token failed validation: {e}");
                    self.store.set_connection_status(
                        id,
                        ConnectionStatus::ReauthRequired,
                        Some(&reason),
                    )?;
                    self.invalidate(id);
                    return Err(TokenError::ReauthRequired {
                        connection: record.name.clone(),
                        reason,
                    });
                }
                self.note(RefreshOutcome::Success);
                let mut write = token_write(set, now_unix());
                // Durable (rotated refresh token included) before anyone sees the access token.
                if provider.hooks.is_some() {
                    // The documented merge rules of a refresh through hooks (hooks/merge.rs).
                    write = merge::merge_refresh(&current, write);
                    let stored = self.store.connection_by_id(id)?.callback_params;
                    let params = merge::merge_extras(&stored, &extras);
                    self.store
                        .save_refreshed_tokens_with_params(id, &write, &params)?;
                } else {
                    self.store.save_refreshed_tokens(id, &write)?;
                }
                let saved = self.stored_tokens(record)?;
                Ok(self.cache.remember(id, &saved, provider))
            }
            Err(Failure::GrantRevoked { error, description }) => {
                self.note(RefreshOutcome::ReauthRequired);
                let reason = Failure::GrantRevoked { error, description }.to_string();
                self.store.set_connection_status(
                    id,
                    ConnectionStatus::ReauthRequired,
                    Some(&reason),
                )?;
                self.invalidate(id);
                Err(TokenError::ReauthRequired {
                    connection: record.name.clone(),
                    reason,
                })
            }
            Err(Failure::Transient {
                reason,
                retry_after,
            }) => {
                self.note(RefreshOutcome::ProviderUnavailable);
                let cooldown = retry_after.unwrap_or_default().max(self.policy.cooldown);
                let message = format!("refresh failed: {reason}");
                self.store.record_refresh_failure(
                    id,
                    record.status,
                    &message,
                    Some(now_unix() + cooldown.as_secs() as i64),
                )?;
                Err(TokenError::ProviderUnavailable {
                    connection: record.name.clone(),
                    reason,
                    retry_after: Some(cooldown),
                })
            }
            Err(other) => {
                self.note(RefreshOutcome::Failed);
                let message = format!("refresh failed: {other}");
                self.store.record_refresh_failure(
                    id,
                    ConnectionStatus::RefreshFailing,
                    &message,
                    Some(now_unix() + self.policy.cooldown.as_secs() as i64),
                )?;
                Err(TokenError::ProviderUnavailable {
                    connection: record.name.clone(),
                    reason: other.to_string(),
                    retry_after: Some(self.policy.cooldown),
                })
            }
        }
    }

    /// A refresh answer's id_token, when the provider names an issuer and sent one, is
    /// checked as at authorization (no nonce: none is sent with a refresh). An app
    /// connection's subject, recorded from the first id_token, must not change.
    async fn check_id_token(
        &self,
        record: &ConnectionRecord,
        provider: &ProviderConfig,
        creds: &ClientCredentials,
        set: &TokenSet,
    ) -> Result<(), IdTokenError> {
        let (Some(check), Some(id_token)) = (&provider.id_token, &set.id_token) else {
            return Ok(());
        };
        let claims = check
            .validate(&self.http, id_token.expose_secret(), &creds.client_id, None)
            .await?;
        if record.app
            && record
                .account_id
                .as_deref()
                .is_some_and(|sub| sub != claims.subject)
        {
            return Err(IdTokenError::Subject);
        }
        Ok(())
    }

    fn credentials(&self, record: &ConnectionRecord) -> Result<ClientCredentials, TokenError> {
        let key = record
            .credential_key
            .as_deref()
            .ok_or_else(|| TokenError::Config {
                connection: record.name.clone(),
                source: ProviderError::Other("the connection has no OAuth credential key".into()),
            })?;
        self.store.credentials(key).map_err(|e| TokenError::Config {
            connection: record.name.clone(),
            source: ProviderError::Store(e),
        })
    }

    async fn refresh_with_retries(
        &self,
        provider: &ProviderConfig,
        creds: &ClientCredentials,
        refresh_token: Option<&SecretString>,
        scopes: &[String],
    ) -> Result<Hooked, Failure> {
        let mut attempt = 1;
        loop {
            let result = match (provider.grant_type, refresh_token) {
                (GrantType::ClientCredentials, _) => {
                    client::client_credentials(&self.http, provider, creds)
                        .await
                        .map(plain)
                }
                (GrantType::AuthorizationCode, Some(rt)) => match &provider.hooks {
                    Some(hooks) => {
                        let grant = hooks::Grant::Refresh {
                            refresh_token: rt,
                            scopes,
                        };
                        hooks::exchange(&self.http, provider, hooks, creds, grant).await
                    }
                    None => client::refresh(&self.http, provider, creds, rt)
                        .await
                        .map(plain),
                },
                (GrantType::AuthorizationCode, None) => {
                    return Err(Failure::GrantRevoked {
                        error: "no_refresh_token".into(),
                        description: None,
                    });
                }
            };
            match result {
                Err(Failure::Transient {
                    reason,
                    retry_after,
                }) if attempt < self.policy.max_attempts => {
                    let delay = match retry_after {
                        Some(ra) if ra > self.policy.max_retry_after => {
                            return Err(Failure::Transient {
                                reason,
                                retry_after,
                            });
                        }
                        Some(ra) => ra,
                        None => jitter(backoff(&self.policy, attempt)),
                    };
                    tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, %reason, "token refresh failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// A standard answer, which has no extras.
fn plain(tokens: TokenSet) -> Hooked {
    Hooked {
        tokens,
        extras: Default::default(),
    }
}

fn backoff(policy: &RefreshPolicy, attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    policy
        .base_backoff
        .saturating_mul(factor)
        .min(policy.max_backoff)
}

/// Between half and all of `d`.
pub(super) fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RefreshPolicy::default();
        assert_eq!(backoff(&p, 1), p.base_backoff);
        assert_eq!(backoff(&p, 2), p.base_backoff * 2);
        assert_eq!(backoff(&p, 30), p.max_backoff);
        let j = jitter(Duration::from_secs(2));
        assert!(j >= Duration::from_secs(1) && j <= Duration::from_secs(2));
    }
}
