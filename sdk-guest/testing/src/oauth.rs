//! Seeded OAuth: the token source the host's doors draw from while the test runs, for the
//! connection's own grant or for an app connection, started from an [`OAuthState`]
//! (`seed.rs`).
//!
//! The source follows the host's token manager step for step: a token that lives long
//! enough is handed out unless the grant lacks required scopes; an authorization-code
//! connection with no refresh token gets `reauth_required` once its token is expired or
//! rejected; otherwise each refresh takes the next seeded outcome. Each outcome is turned
//! into the token endpoint's answer and classified by the host's own
//! `oauth::classify::classify_response`, the manager's error variants are built from that,
//! and `custody::door_error` gives the code the guest sees, so nothing here re-decides
//! what an `invalid_grant` or a 503 means.
//!
//! This module owns the seeded state. It must not put a token value into an error
//! message or a log line.

use crate::seed::{OAuthState, RefreshOutcome};
use keyway_host::custody::door_error;
use keyway_host::egress::{TokenDetails, TokenError as DoorError, TokenSource};
use keyway_host::manifest::OAuthConfig;
use keyway_host::oauth::classify::{Failure, classify_response};
use keyway_host::oauth::refresh::{ProviderError, TokenError};
use keyway_host::oauth::{GrantType, ProviderConfig, TokenPaths};
use keyway_host::store::{ConnectionStatus, now_unix};
use keyway_host::types::BoxFuture;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What the seeded grant is now.
struct Live {
    token: Option<String>,
    token_type: Option<String>,
    expires_at: Option<i64>,
    granted: Vec<String>,
    /// Set by an `invalid_grant` or an expired token that cannot be refreshed.
    reauth: Option<String>,
    /// Set by a failed refresh; the host's manager waits out a cooldown before retrying.
    cooldown: Option<String>,
    outcomes: VecDeque<RefreshOutcome>,
}

/// The token source of one test runtime.
pub(crate) struct SeededTokens {
    connection: String,
    provider: ProviderConfig,
    /// A refresh token is stored and the manifest enables refresh.
    can_refresh: bool,
    live: Mutex<Live>,
    requests: AtomicUsize,
}

impl SeededTokens {
    pub(crate) fn new(
        connection: &str,
        oauth: &OAuthConfig,
        state: OAuthState,
    ) -> Result<SeededTokens, String> {
        // The token endpoint is never called; the configuration is needed for its token
        // paths, required scopes and refresh switch, as `custody` fills them.
        let endpoint = url::Url::parse("https://token-endpoint.invalid/")
            .map_err(|e| format!("placeholder token URL: {e}"))?;
        if let Some(required) = &state.required_scopes
            && let Some(stray) = required.iter().find(|s| !oauth.scopes.contains(s))
        {
            return Err(format!(
                "required scope `{stray}` is not one the manifest requests ({}); the host \
                 could never require it",
                oauth.scopes.join(", ")
            ));
        }
        let mut provider = ProviderConfig::new(oauth.flow, endpoint);
        provider.scopes = oauth.scopes.clone();
        provider.required_scopes = state
            .required_scopes
            .clone()
            .unwrap_or_else(|| oauth.required_scopes.clone());
        provider.scope_separator = oauth.scope_separator.clone();
        provider.refresh_enabled = oauth.refresh_enabled;
        provider.token_paths = TokenPaths {
            access_token: oauth.token.access_token.to_string(),
            refresh_token: oauth.token.refresh_token.to_string(),
            expires_in: oauth.token.expires_in.to_string(),
            scope: oauth.token.scope.to_string(),
            token_type: oauth.token.token_type.to_string(),
        };
        let can_refresh = match oauth.flow {
            GrantType::ClientCredentials => true,
            GrantType::AuthorizationCode => oauth.refresh_enabled && state.refresh_allowed,
        };
        let default_scopes = oauth.scopes.clone();
        Ok(SeededTokens::seeded(
            connection,
            provider,
            can_refresh,
            state,
            default_scopes,
        ))
    }

    /// The token source of the app connection `name`, as the host configures one
    /// (`oauth::ProviderResolver::resolve_app`): an authorization-code grant with
    /// standard token paths, refresh enabled, no required scopes.
    pub(crate) fn app(name: &str, state: OAuthState) -> Result<SeededTokens, String> {
        if state.required_scopes.is_some() {
            return Err(format!(
                "app connection `{name}`: drop .required_scopes(..): the host requires no \
                 scopes of an app connection (a route reads granted_scopes and decides)"
            ));
        }
        let endpoint = url::Url::parse("https://token-endpoint.invalid/")
            .map_err(|e| format!("placeholder token URL: {e}"))?;
        let mut provider = ProviderConfig::new(GrantType::AuthorizationCode, endpoint);
        provider.scopes = state.scopes.clone().unwrap_or_default();
        let can_refresh = state.refresh_allowed;
        Ok(SeededTokens::seeded(
            name,
            provider,
            can_refresh,
            state,
            Vec::new(),
        ))
    }

    fn seeded(
        connection: &str,
        provider: ProviderConfig,
        can_refresh: bool,
        state: OAuthState,
        default_scopes: Vec<String>,
    ) -> SeededTokens {
        SeededTokens {
            connection: connection.to_string(),
            can_refresh,
            live: Mutex::new(Live {
                token: state.token,
                token_type: state.token_type,
                expires_at: state.expires_in.map(|d| now_unix() + d.as_secs() as i64),
                granted: state.scopes.unwrap_or(default_scopes),
                reauth: None,
                cooldown: None,
                outcomes: state.outcomes,
            }),
            provider,
            requests: AtomicUsize::new(0),
        }
    }

    /// How many refreshes reached the (seeded) token endpoint.
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Seeded refresh outcomes not used yet.
    pub(crate) fn unused_outcomes(&self) -> usize {
        self.lock().outcomes.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn missing_scopes(&self, live: &Live) -> Result<(), TokenError> {
        let missing = self.provider.missing_scopes(&live.granted);
        if missing.is_empty() {
            return Ok(());
        }
        Err(TokenError::MissingScopes {
            connection: self.connection.clone(),
            missing,
        })
    }

    /// The manager's path: `replace` is true after a provider's 401.
    fn obtain(&self, min_ttl: Duration, replace: bool) -> Result<TokenDetails, TokenError> {
        let mut live = self.lock();
        if let Some(reason) = &live.reauth {
            return Err(TokenError::ReauthRequired {
                connection: self.connection.clone(),
                reason: reason.clone(),
            });
        }
        let Some(token) = live.token.clone() else {
            return Err(TokenError::NotConnected {
                connection: self.connection.clone(),
                status: ConnectionStatus::PendingAuthorization,
            });
        };
        let now = now_unix();
        let min = min_ttl.as_secs() as i64;
        if !replace && live.expires_at.is_none_or(|e| e - now >= min) {
            self.missing_scopes(&live)?;
            return Ok(details(token, &live));
        }
        if let Some(reason) = &live.cooldown {
            return Err(TokenError::ProviderUnavailable {
                connection: self.connection.clone(),
                reason: format!("in cooldown after failed refreshes ({reason})"),
                retry_after: None,
            });
        }
        if !self.can_refresh {
            let expired = live.expires_at.is_some_and(|e| e <= now);
            if !expired && !replace {
                self.missing_scopes(&live)?;
                return Ok(details(token, &live));
            }
            let reason = "the token expired and the provider issues no refresh token";
            live.reauth = Some(reason.to_string());
            return Err(TokenError::ReauthRequired {
                connection: self.connection.clone(),
                reason: reason.into(),
            });
        }
        self.refresh(&mut live)
    }

    fn refresh(&self, live: &mut Live) -> Result<TokenDetails, TokenError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let Some(outcome) = live.outcomes.pop_front() else {
            return Err(TokenError::Config {
                connection: self.connection.clone(),
                source: ProviderError::Other(
                    "the test seeded no refresh outcome for this refresh \
                     (add one with OAuthState::refresh)"
                        .into(),
                ),
            });
        };
        match classify_response(&self.provider, &outcome.raw(&self.provider.token_paths)) {
            Ok(set) => {
                use secrecy::ExposeSecret as _;
                let token = set.access_token.expose_secret().to_string();
                live.token = Some(token.clone());
                live.token_type = set.token_type;
                live.expires_at = set.expires_in.map(|d| now_unix() + d.as_secs() as i64);
                if let Some(scopes) = set.scopes {
                    live.granted = scopes;
                }
                self.missing_scopes(live)?;
                Ok(details(token, live))
            }
            Err(failure @ Failure::GrantRevoked { .. }) => {
                let reason = failure.to_string();
                live.reauth = Some(reason.clone());
                Err(TokenError::ReauthRequired {
                    connection: self.connection.clone(),
                    reason,
                })
            }
            Err(Failure::Transient {
                reason,
                retry_after,
            }) => {
                live.cooldown = Some(format!("refresh failed: {reason}"));
                Err(TokenError::ProviderUnavailable {
                    connection: self.connection.clone(),
                    reason,
                    retry_after,
                })
            }
            Err(other) => {
                let reason = other.to_string();
                live.cooldown = Some(format!("refresh failed: {reason}"));
                Err(TokenError::ProviderUnavailable {
                    connection: self.connection.clone(),
                    reason,
                    retry_after: None,
                })
            }
        }
    }
}

/// The token handed out, with what the seeded grant knows of it.
fn details(token: String, live: &Live) -> TokenDetails {
    TokenDetails {
        access_token: token,
        token_type: live.token_type.clone(),
        expires_at: live.expires_at,
    }
}

impl TokenSource for SeededTokens {
    fn token(&self, min_ttl: Duration) -> BoxFuture<'_, Result<String, DoorError>> {
        let result = self
            .obtain(min_ttl, false)
            .map(|d| d.access_token)
            .map_err(door_error);
        Box::pin(std::future::ready(result))
    }

    fn token_details(&self, min_ttl: Duration) -> BoxFuture<'_, Result<TokenDetails, DoorError>> {
        let result = self.obtain(min_ttl, false).map_err(door_error);
        Box::pin(std::future::ready(result))
    }

    fn force_refresh(&self) -> BoxFuture<'_, Result<String, DoorError>> {
        let result = self
            .obtain(Duration::ZERO, true)
            .map(|d| d.access_token)
            .map_err(door_error);
        Box::pin(std::future::ready(result))
    }

    fn granted_scopes(&self) -> BoxFuture<'_, Result<Vec<String>, DoorError>> {
        let scopes = self.lock().granted.clone();
        Box::pin(std::future::ready(Ok(scopes)))
    }
}
