//! One refresh per connection at a time: in-process, a per-connection async mutex whose
//! completion counter lets the waiters of a stampede take the token the holder left in
//! memory; across processes and replicas, a lease row in the database, with the store
//! re-read while waiting so a refresh done by another process is reused rather than
//! repeated. On SQLite a waiter looks again every `lease_poll`; on PostgreSQL it is woken
//! by the announcement of the holder's token write or release (`LISTEN`), whichever
//! replica holds it.
//!
//! Owns: [`Flights`], `TokenManager::obtain` (status checks, cooldown, the decision to
//! refresh, the lease) and when a stored token is good enough.
//! Must not: send a token request itself (`exchange.rs` does) or hand out a token that was
//! not first remembered in the cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::exchange::jitter;
use super::{AccessToken, TokenError, TokenManager, Want};
use crate::oauth::provider::GrantType;
use crate::store::{ConnectionStatus, StoredTokens, now_unix};

/// How long a refresh that waits on another replica's lease goes without looking again
/// when no announcement comes (PostgreSQL announces every token write and release).
const LEASE_BACKSTOP: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Flight {
    lock: tokio::sync::Mutex<()>,
    completed: AtomicU64,
}

/// The in-process flight of each connection.
#[derive(Default)]
pub(super) struct Flights {
    by_connection: Mutex<HashMap<String, Arc<Flight>>>,
}

impl Flights {
    fn of(&self, connection_id: &str) -> Arc<Flight> {
        self.by_connection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(connection_id.to_string())
            .or_default()
            .clone()
    }
}

impl TokenManager {
    /// A token satisfying `want`: reused from whoever refreshed meanwhile, read from the
    /// store, or refreshed under the connection's flight and lease.
    pub(super) async fn obtain(
        &self,
        connection_id: &str,
        want: Want,
    ) -> Result<AccessToken, TokenError> {
        let flight = self.flights.of(connection_id);
        let seen = flight.completed.load(Ordering::Acquire);
        let _guard = flight.lock.lock().await;
        let refreshed_meanwhile = flight.completed.load(Ordering::Acquire) != seen;
        // Whoever held the lock just refreshed: hand out the token it left in memory
        // instead of walking every waiter of a stampede through the database one by one.
        if refreshed_meanwhile && let Some(hit) = self.cache.get_for(connection_id, &want)? {
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
        let token = self.cache.remember(connection_id, &stored, &provider);
        if usable(&stored, &want, refreshed_meanwhile) {
            self.cache.check_scopes(connection_id)?;
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
                self.cache.check_scopes(connection_id)?;
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
        // Subscribed before the first try: a release after it wakes this waiter.
        let mut events = self.store.refresh_events();
        loop {
            if self
                .store
                .try_acquire_lease(&lease, &self.holder, lease_ms)?
            {
                break;
            }
            match &mut events {
                // Told when any replica writes tokens or lets a refresh lease go; looks
                // again now and then all the same, for a holder that died with its lease.
                Some(events) => {
                    let _ = tokio::time::timeout(LEASE_BACKSTOP, events.changed()).await;
                }
                None => tokio::time::sleep(jitter(self.policy.lease_poll)).await,
            }
            if let Some(t) = self.store.tokens(connection_id)?
                && t.generation != stored.generation
            {
                // Another process refreshed while we waited.
                let token = self.cache.remember(connection_id, &t, &provider);
                self.cache.check_scopes(connection_id)?;
                return Ok(token);
            }
        }
        let result = self
            .refresh_holding_lease(&record, &provider, &stored)
            .await;
        let _ = self.store.release_lease(&lease, &self.holder);
        let token = result?;
        flight.completed.fetch_add(1, Ordering::AcqRel);
        self.cache.check_scopes(connection_id)?;
        Ok(token)
    }
}

/// Whether the stored token `t` answers `want` without a refresh. After someone else's
/// refresh, any live token will do: it is the newest there is.
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
