//! Access tokens at run time: `TokenManager::access_token(connection, min_ttl)` answers from
//! an in-memory cache when the token lives long enough (no database round trip), and
//! otherwise refreshes with one flight per connection, in-process (a per-connection async
//! mutex) and across processes (a lease row in SQLite), re-reading the store after each wait
//! so a refresh done by someone else is reused rather than repeated.
//!
//! Owns: the token cache, single flight, bounded jittered retries, the cooldown after an
//! outage, and the status changes a refresh outcome implies.
//! Invariants: a rotated refresh token is committed before the new access token is returned;
//! a provider outage never marks a connection `reauth_required`.
//! Must not: log or put token values in errors.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

use super::classify::Failure;
use super::client;
use super::http::OAuthHttp;
use super::provider::{GrantType, ProviderConfig, TokenSet};
use crate::store::{
    ClientCredentials, ConnectionRecord, ConnectionStatus, Store, StoreError, StoredTokens,
    TokenWrite, new_id, now_unix,
};

/// Supplies the resolved provider configuration of a connection (from its manifest).
pub trait ProviderSource: Send + Sync {
    fn provider_config<'a>(
        &'a self,
        connection: &'a ConnectionRecord,
    ) -> crate::types::BoxFuture<'a, Result<Arc<ProviderConfig>, ProviderError>>;
}

/// Every connection gets the same configuration (tests, benchmarks, an embedder with one
/// provider).
pub struct FixedProvider(pub Arc<ProviderConfig>);

impl ProviderSource for FixedProvider {
    fn provider_config<'a>(
        &'a self,
        _connection: &'a ConnectionRecord,
    ) -> crate::types::BoxFuture<'a, Result<Arc<ProviderConfig>, ProviderError>> {
        let config = self.0.clone();
        Box::pin(async move { Ok(config) })
    }
}

/// Why a connection's provider configuration could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("connector `{connector}` has no OAuth block")]
    NoOAuth { connector: String },
    #[error("the connection has no OAuth credential key")]
    NoCredentialKey,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Retry, cooldown and lease settings.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    /// Token requests per refresh, the first included.
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this ends the retries at once.
    pub max_retry_after: Duration,
    /// After giving up on a transient failure, no new request before this has passed.
    pub cooldown: Duration,
    /// Lifetime of the cross-process refresh lease (longer than one refresh can take).
    pub lease_ttl: Duration,
    pub lease_poll: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(20),
            cooldown: Duration::from_secs(60),
            lease_ttl: Duration::from_secs(120),
            lease_poll: Duration::from_millis(100),
        }
    }
}

/// The shortest time between two forced refreshes (after a 401) of one connection.
pub const MIN_FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// An access token handed to the runtime. `Debug` is redacted.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    /// Changes whenever the stored token changes; pass it back to `force_refresh`.
    pub generation: i64,
    pub expires_at: Option<i64>,
}

impl AccessToken {
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"<redacted>")
            .field("generation", &self.generation)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why no token could be handed out. `code()` gives the WIT error code.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("connection `{connection}` must be authorized again: {reason}")]
    ReauthRequired { connection: String, reason: String },
    #[error("connection `{connection}` lacks required scopes: {}", missing.join(", "))]
    MissingScopes {
        connection: String,
        missing: Vec<String>,
    },
    #[error("the provider of connection `{connection}` is unavailable: {reason}")]
    ProviderUnavailable {
        connection: String,
        reason: String,
        retry_after: Option<Duration>,
    },
    #[error("connection `{connection}` is {status}, not connected")]
    NotConnected {
        connection: String,
        status: ConnectionStatus,
    },
    #[error("connection `{connection}` cannot refresh: {source}")]
    Config {
        connection: String,
        #[source]
        source: ProviderError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TokenError {
    /// The `keyway:connector/types.error-code` name for this error.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::ReauthRequired { .. } | TokenError::NotConnected { .. } => {
                "reauth-required"
            }
            TokenError::MissingScopes { .. } => "missing-scopes",
            TokenError::ProviderUnavailable { .. } => "provider-unavailable",
            TokenError::Config { .. } | TokenError::Store(_) => "internal",
        }
    }
}

struct Cached {
    token: SecretString,
    generation: i64,
    expires_at: Option<i64>,
    missing: Arc<[String]>,
    granted: Arc<[String]>,
}

#[derive(Default)]
struct Flight {
    lock: tokio::sync::Mutex<()>,
    completed: AtomicU64,
}

/// Hands out access tokens and refreshes them. Share it in an `Arc`.
pub struct TokenManager {
    store: Arc<Store>,
    http: OAuthHttp,
    providers: Arc<dyn ProviderSource>,
    policy: RefreshPolicy,
    cache: RwLock<HashMap<String, Cached>>,
    flights: Mutex<HashMap<String, Arc<Flight>>>,
    /// When each connection last had a forced refresh (after a 401).
    forced: Mutex<HashMap<String, std::time::Instant>>,
    holder: String,
    observer: std::sync::OnceLock<Arc<dyn RefreshObserver>>,
}

/// How one refresh at the provider ended, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    Success,
    /// The grant is gone (`invalid_grant` and kin): the connection needs a person.
    ReauthRequired,
    /// The provider or network failed; retried later.
    ProviderUnavailable,
    /// Any other failure (bad provider answer, configuration).
    Failed,
}

impl RefreshOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshOutcome::Success => "success",
            RefreshOutcome::ReauthRequired => "reauth_required",
            RefreshOutcome::ProviderUnavailable => "provider_unavailable",
            RefreshOutcome::Failed => "failed",
        }
    }
}

/// Told about every refresh the manager attempts at the provider.
pub trait RefreshObserver: Send + Sync {
    fn refreshed(&self, outcome: RefreshOutcome);
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("holder", &self.holder)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

enum Want {
    /// Lifetime of at least this many seconds.
    MinTtl(i64),
    /// Anything but the token of this generation (it was rejected with a 401).
    Replace(i64),
}

impl TokenManager {
    pub fn new(
        store: Arc<Store>,
        http: OAuthHttp,
        providers: Arc<dyn ProviderSource>,
        policy: RefreshPolicy,
    ) -> Self {
        TokenManager {
            store,
            http,
            providers,
            policy,
            cache: RwLock::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            forced: Mutex::new(HashMap::new()),
            holder: new_id("holder"),
            observer: std::sync::OnceLock::new(),
        }
    }

    /// Sets the one observer told about refresh outcomes; later calls are ignored.
    pub fn observe(&self, observer: Arc<dyn RefreshObserver>) {
        let _ = self.observer.set(observer);
    }

    fn note(&self, outcome: RefreshOutcome) {
        if let Some(o) = self.observer.get() {
            o.refreshed(outcome);
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A token valid for at least `min_ttl`, from the cache or by refreshing.
    pub async fn access_token(
        &self,
        connection_id: &str,
        min_ttl: Duration,
    ) -> Result<AccessToken, TokenError> {
        let min = min_ttl.as_secs() as i64;
        if let Some(hit) = self.cached(connection_id, min)? {
            return Ok(hit);
        }
        self.obtain(connection_id, Want::MinTtl(min)).await
    }

    /// Replaces a token the provider rejected (HTTP 401). Concurrent callers holding the same
    /// rejected generation share one refresh.
    pub async fn force_refresh(
        &self,
        connection_id: &str,
        rejected_generation: i64,
    ) -> Result<AccessToken, TokenError> {
        // At most one forced refresh per connection per interval, whatever the callers:
        // a route that keeps meeting 401s cannot turn each into a refresh at the
        // provider. Within the interval the current token is handed back as it is (a
        // caller that gets the token it sent does not retry).
        if self.forced_recently(connection_id)
            && let Some(current) = self.cached(connection_id, 1)?
        {
            return Ok(current);
        }
        self.obtain(connection_id, Want::Replace(rejected_generation))
            .await
    }

    /// Whether a forced refresh of `connection_id` happened under
    /// [`MIN_FORCED_REFRESH_INTERVAL`] ago; records this one if not.
    fn forced_recently(&self, connection_id: &str) -> bool {
        let now = std::time::Instant::now();
        let mut forced = self.forced.lock().unwrap_or_else(|p| p.into_inner());
        match forced.get(connection_id) {
            Some(last) if now.duration_since(*last) < MIN_FORCED_REFRESH_INTERVAL => true,
            _ => {
                forced.insert(connection_id.to_string(), now);
                false
            }
        }
    }

    /// The scopes granted to the connection (cached once a token has been handed out).
    pub fn granted_scopes(&self, connection_id: &str) -> Result<Vec<String>, TokenError> {
        if let Some(c) = self.read_cache().get(connection_id) {
            return Ok(c.granted.to_vec());
        }
        Ok(self
            .store
            .connection_by_id(connection_id)?
            .granted_scopes
            .unwrap_or_default())
    }

    /// Forgets the cached token (after revoke or delete).
    pub fn invalidate(&self, connection_id: &str) {
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(connection_id);
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Cached>> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The fast path: no database, no allocation beyond the returned token.
    fn cached(&self, connection_id: &str, min: i64) -> Result<Option<AccessToken>, TokenError> {
        let cache = self.read_cache();
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
        }))
    }

    /// The cached token if it satisfies `want`.
    fn cached_for(
        &self,
        connection_id: &str,
        want: &Want,
    ) -> Result<Option<AccessToken>, TokenError> {
        Ok(match want {
            Want::MinTtl(min) => self.cached(connection_id, *min)?,
            Want::Replace(rejected) => self
                .cached(connection_id, 1)?
                .filter(|t| t.generation != *rejected),
        })
    }

    fn flight(&self, connection_id: &str) -> Arc<Flight> {
        self.flights
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(connection_id.to_string())
            .or_default()
            .clone()
    }

    fn remember(&self, connection_id: &str, t: &StoredTokens, p: &ProviderConfig) -> AccessToken {
        let granted: Vec<String> = t.scopes.clone().unwrap_or_default();
        let missing = if t.scopes.is_some() {
            p.missing_scopes(&granted)
        } else {
            Vec::new()
        };
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                connection_id.to_string(),
                Cached {
                    token: t.access_token.clone(),
                    generation: t.generation,
                    expires_at: t.expires_at,
                    missing: missing.into(),
                    granted: granted.into(),
                },
            );
        AccessToken {
            secret: t.access_token.clone(),
            generation: t.generation,
            expires_at: t.expires_at,
        }
    }

    fn check_scopes(&self, connection_id: &str) -> Result<(), TokenError> {
        if let Some(c) = self.read_cache().get(connection_id)
            && !c.missing.is_empty()
        {
            return Err(TokenError::MissingScopes {
                connection: connection_id.to_string(),
                missing: c.missing.to_vec(),
            });
        }
        Ok(())
    }

    async fn obtain(&self, connection_id: &str, want: Want) -> Result<AccessToken, TokenError> {
        let flight = self.flight(connection_id);
        let seen = flight.completed.load(Ordering::Acquire);
        let _guard = flight.lock.lock().await;
        let refreshed_meanwhile = flight.completed.load(Ordering::Acquire) != seen;
        // Whoever held the lock just refreshed: hand out the token it left in memory
        // instead of walking every waiter of a stampede through the database one by one.
        if refreshed_meanwhile && let Some(hit) = self.cached_for(connection_id, &want)? {
            return Ok(hit);
        }

        let record = self.store.connection_by_id(connection_id)?;
        match record.status {
            ConnectionStatus::Connected | ConnectionStatus::RefreshFailing => {}
            ConnectionStatus::ReauthRequired => {
                self.invalidate(connection_id);
                return Err(TokenError::ReauthRequired {
                    connection: record.name.clone(),
                    reason: record
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "the grant is no longer valid".into()),
                });
            }
            status => {
                self.invalidate(connection_id);
                return Err(TokenError::NotConnected {
                    connection: record.name.clone(),
                    status,
                });
            }
        }
        let provider = self
            .providers
            .provider_config(&record)
            .await
            .map_err(|source| TokenError::Config {
                connection: record.name.clone(),
                source,
            })?;
        let stored = self
            .store
            .tokens(connection_id)?
            .ok_or_else(|| TokenError::NotConnected {
                connection: record.name.clone(),
                status: record.status,
            })?;
        let token = self.remember(connection_id, &stored, &provider);
        if usable(&stored, &want, refreshed_meanwhile) {
            self.check_scopes(connection_id)?;
            return Ok(token);
        }
        let now = now_unix();
        if let Some(until) = record.cooldown_until.filter(|u| *u > now) {
            return Err(TokenError::ProviderUnavailable {
                connection: record.name.clone(),
                reason: format!(
                    "in cooldown after failed refreshes ({})",
                    record.last_error.as_deref().unwrap_or("no detail")
                ),
                retry_after: Some(Duration::from_secs((until - now) as u64)),
            });
        }
        if provider.grant_type == GrantType::AuthorizationCode
            && (!provider.refresh_enabled || stored.refresh_token.is_none())
        {
            let expired = stored.expires_at.is_some_and(|e| e <= now);
            if !expired && !matches!(want, Want::Replace(_)) {
                // Nothing better can be had; the token still works for a while.
                self.check_scopes(connection_id)?;
                return Ok(token);
            }
            let reason = "the token expired and the provider issues no refresh token";
            self.store.set_connection_status(
                connection_id,
                ConnectionStatus::ReauthRequired,
                Some(reason),
            )?;
            self.invalidate(connection_id);
            return Err(TokenError::ReauthRequired {
                connection: record.name.clone(),
                reason: reason.into(),
            });
        }

        let lease = format!("refresh:{connection_id}");
        let lease_ms = self.policy.lease_ttl.as_millis() as i64;
        loop {
            if self
                .store
                .try_acquire_lease(&lease, &self.holder, lease_ms)?
            {
                break;
            }
            tokio::time::sleep(jitter(self.policy.lease_poll)).await;
            if let Some(t) = self.store.tokens(connection_id)?
                && t.generation != stored.generation
            {
                // Another process refreshed while we waited.
                let token = self.remember(connection_id, &t, &provider);
                self.check_scopes(connection_id)?;
                return Ok(token);
            }
        }
        let result = self
            .refresh_holding_lease(&record, &provider, &stored)
            .await;
        let _ = self.store.release_lease(&lease, &self.holder);
        let token = result?;
        flight.completed.fetch_add(1, Ordering::AcqRel);
        self.check_scopes(connection_id)?;
        Ok(token)
    }

    async fn refresh_holding_lease(
        &self,
        record: &ConnectionRecord,
        provider: &ProviderConfig,
        before: &StoredTokens,
    ) -> Result<AccessToken, TokenError> {
        let id = record.id.as_str();
        // Re-read under the lease: someone may have refreshed between our read and the lease.
        let current = self
            .store
            .tokens(id)?
            .ok_or_else(|| TokenError::NotConnected {
                connection: record.name.clone(),
                status: ConnectionStatus::Revoked,
            })?;
        if current.generation != before.generation {
            return Ok(self.remember(id, &current, provider));
        }
        let creds = self.credentials(record)?;
        match self
            .refresh_with_retries(provider, &creds, current.refresh_token.as_ref())
            .await
        {
            Ok(set) => {
                self.note(RefreshOutcome::Success);
                let write = token_write(set, now_unix());
                // Durable (rotated refresh token included) before anyone sees the access token.
                self.store.save_refreshed_tokens(id, &write)?;
                let saved = self
                    .store
                    .tokens(id)?
                    .ok_or_else(|| TokenError::NotConnected {
                        connection: record.name.clone(),
                        status: ConnectionStatus::Revoked,
                    })?;
                Ok(self.remember(id, &saved, provider))
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

    fn credentials(&self, record: &ConnectionRecord) -> Result<ClientCredentials, TokenError> {
        let key = record
            .credential_key
            .as_deref()
            .ok_or_else(|| TokenError::Config {
                connection: record.name.clone(),
                source: ProviderError::NoCredentialKey,
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
    ) -> Result<TokenSet, Failure> {
        let mut attempt = 1;
        loop {
            let result = match (provider.grant_type, refresh_token) {
                (GrantType::ClientCredentials, _) => {
                    client::client_credentials(&self.http, provider, creds).await
                }
                (GrantType::AuthorizationCode, Some(rt)) => {
                    client::refresh(&self.http, provider, creds, rt).await
                }
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

fn usable(t: &StoredTokens, want: &Want, refreshed_meanwhile: bool) -> bool {
    let now = now_unix();
    let alive = t.expires_at.is_none_or(|e| e > now);
    match want {
        Want::Replace(rejected) => t.generation != *rejected && alive,
        Want::MinTtl(min) => {
            t.expires_at.is_none_or(|e| e - now >= *min) || (refreshed_meanwhile && alive)
        }
    }
}

/// Converts a token response into a store write (`expires_at` from `expires_in`).
pub fn token_write(set: TokenSet, now: i64) -> TokenWrite {
    TokenWrite {
        access_token: set.access_token,
        refresh_token: set.refresh_token,
        token_type: set.token_type,
        expires_at: set.expires_in.map(|d| now + d.as_secs() as i64),
        scopes: set.scopes,
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
fn jitter(d: Duration) -> Duration {
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

    #[test]
    fn error_codes_match_wit() {
        let e = TokenError::ProviderUnavailable {
            connection: "a".into(),
            reason: "HTTP 503".into(),
            retry_after: None,
        };
        assert_eq!(e.code(), "provider-unavailable");
        let e = TokenError::MissingScopes {
            connection: "a".into(),
            missing: vec!["x".into(), "y".into()],
        };
        assert!(e.to_string().contains("x, y"));
    }
}
