//! Access tokens at run time: `TokenManager::access_token(connection, min_ttl)` answers from
//! an in-memory cache when the token lives long enough (no database round trip), and
//! otherwise refreshes with one flight per connection, in-process (a per-connection async
//! mutex) and across processes (a lease row in SQLite), re-reading the store after each wait
//! so a refresh done by someone else is reused rather than repeated.
//!
//! This file has the manager's public face (policy, handed-out tokens, outcomes for
//! metrics, the calls). The parts: `source.rs` (where provider configurations come from),
//! `error.rs` (`TokenError`), `cache.rs` (the in-memory tokens), `flight.rs` (single
//! flight and the lease), `exchange.rs` (one refresh at the provider: retries, backoff,
//! the status change each outcome implies).
//!
//! Owns: the token cache, single flight, bounded jittered retries, the cooldown after an
//! outage, and the status changes a refresh outcome implies.
//! Invariants: a rotated refresh token is committed before the new access token is returned;
//! a provider outage never marks a connection `reauth_required`.
//! Must not: log or put token values in errors.

mod cache;
mod error;
mod exchange;
mod flight;
mod source;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub use error::TokenError;
pub(crate) use source::ProviderSource;
pub use source::{FixedProvider, ProviderError};

use super::http::OAuthHttp;
use super::provider::TokenSet;
use crate::store::{Store, TokenWrite, new_id};
use cache::TokenCache;
use flight::Flights;

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
pub(crate) const MIN_FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// An access token handed to the runtime. `Debug` is redacted.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    /// Changes whenever the stored token changes; pass it back to `force_refresh`.
    pub generation: i64,
    pub expires_at: Option<i64>,
    /// The provider's `token_type`, when it gave one.
    pub token_type: Option<std::sync::Arc<str>>,
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

/// Hands out access tokens and refreshes them. Share it in an `Arc`.
pub struct TokenManager {
    store: Arc<Store>,
    http: OAuthHttp,
    providers: Arc<dyn ProviderSource>,
    policy: RefreshPolicy,
    cache: TokenCache,
    flights: Flights,
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
pub(crate) trait RefreshObserver: Send + Sync {
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

/// What a caller needs of a token.
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
            cache: TokenCache::default(),
            flights: Flights::default(),
            forced: Mutex::new(HashMap::new()),
            holder: new_id("holder"),
            observer: std::sync::OnceLock::new(),
        }
    }

    /// Sets the one observer told about refresh outcomes; later calls are ignored.
    pub(crate) fn observe(&self, observer: Arc<dyn RefreshObserver>) {
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
        if let Some(hit) = self.cache.get(connection_id, min)? {
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
            && let Some(current) = self.cache.get(connection_id, 1)?
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
        if let Some(granted) = self.cache.granted(connection_id) {
            return Ok(granted);
        }
        Ok(self
            .store
            .connection_by_id(connection_id)?
            .granted_scopes
            .unwrap_or_default())
    }

    /// Forgets the cached token (after revoke or delete).
    pub(crate) fn invalidate(&self, connection_id: &str) {
        self.cache.invalidate(connection_id);
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
