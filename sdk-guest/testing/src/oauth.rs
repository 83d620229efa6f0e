//! Seeded OAuth: the state a test starts from ([`OAuthState`]: a token or none, granted
//! scopes, expiry, whether a refresh token is stored, a queue of [`RefreshOutcome`]s) and
//! the token source the host's doors draw from while the test runs.
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

use keyway_host::custody::door_error;
use keyway_host::egress::{TokenError as DoorError, TokenSource};
use keyway_host::manifest::OAuthConfig;
use keyway_host::oauth::classify::{Failure, classify_response};
use keyway_host::oauth::http::RawResponse;
use keyway_host::oauth::refresh::{ProviderError, TokenError};
use keyway_host::oauth::{GrantType, ProviderConfig, TokenPaths};
use keyway_host::store::{ConnectionStatus, now_unix};
use keyway_host::types::BoxFuture;
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What the provider's token endpoint answers to one refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshOutcome(Outcome);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Success { token: String, expires_in: u64 },
    InvalidGrant,
    Unavailable,
}

impl RefreshOutcome {
    /// A new access token valid for `expires_in_secs`.
    pub fn success(token: impl Into<String>, expires_in_secs: u64) -> Self {
        RefreshOutcome(Outcome::Success {
            token: token.into(),
            expires_in: expires_in_secs,
        })
    }

    /// `400 {"error": "invalid_grant"}`: the grant is gone, the connection needs a person
    /// to authorize again (`reauth_required`).
    pub fn invalid_grant() -> Self {
        RefreshOutcome(Outcome::InvalidGrant)
    }

    /// `503`: the provider is down (`provider_unavailable`; the connection is not
    /// marked for re-authorization, and later calls get `provider_unavailable` from the
    /// cooldown without another refresh). One outcome stands for the whole refresh: the
    /// host manager's own retries within a refresh are not replayed one by one.
    pub fn unavailable() -> Self {
        RefreshOutcome(Outcome::Unavailable)
    }

    /// The token endpoint's answer this outcome stands for.
    fn raw(&self, paths: &TokenPaths) -> RawResponse {
        match &self.0 {
            Outcome::Success { token, expires_in } => {
                let mut body = Value::Object(Map::new());
                put(&mut body, &paths.access_token, json!(token));
                put(&mut body, &paths.expires_in, json!(expires_in));
                put(&mut body, &paths.token_type, json!("bearer"));
                RawResponse {
                    status: 200,
                    retry_after: None,
                    body: body.to_string().into_bytes(),
                }
            }
            Outcome::InvalidGrant => RawResponse {
                status: 400,
                retry_after: None,
                body: json!({
                    "error": "invalid_grant",
                    "error_description": "the refresh token is invalid or was revoked"
                })
                .to_string()
                .into_bytes(),
            },
            Outcome::Unavailable => RawResponse {
                status: 503,
                retry_after: None,
                body: b"service unavailable".to_vec(),
            },
        }
    }
}

/// Sets `value` at the dotted `path` of `root`, creating objects on the way.
fn put(root: &mut Value, path: &str, value: Value) {
    let mut at = root;
    let mut segments = path.split('.').peekable();
    while let Some(seg) = segments.next() {
        let Value::Object(map) = at else { return };
        if segments.peek().is_none() {
            map.insert(seg.to_string(), value);
            return;
        }
        at = map
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// The OAuth state a test runtime starts from.
#[derive(Debug, Clone)]
pub struct OAuthState {
    token: Option<String>,
    scopes: Option<Vec<String>>,
    required_scopes: Option<Vec<String>>,
    expires_in: Option<Duration>,
    refresh_allowed: bool,
    outcomes: VecDeque<RefreshOutcome>,
}

impl OAuthState {
    /// A connected grant with `token`; scopes default to the manifest's, no expiry, a
    /// refresh token stored (when the manifest enables refresh).
    pub fn connected(token: impl Into<String>) -> Self {
        OAuthState {
            token: Some(token.into()),
            ..OAuthState::none()
        }
    }

    /// No grant at all: the connection was never authorized.
    pub fn none() -> Self {
        OAuthState {
            token: None,
            scopes: None,
            required_scopes: None,
            expires_in: None,
            refresh_allowed: true,
            outcomes: VecDeque::new(),
        }
    }

    /// The scopes the provider granted (default: every scope the manifest requests).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The scopes the grant must hold, as the host requires them (default: the manifest's
    /// `requiredScopes`, or every scope it requests but `offline_access`). Each must be
    /// one the manifest requests; a grant lacking one fails every token request with
    /// `missing_scopes`.
    pub fn required_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The token expires this long after the runtime is built (default: never).
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.expires_in = Some(lifetime);
        self
    }

    /// Queues what the token endpoint answers to the next refresh; each refresh takes
    /// the next outcome in order.
    pub fn refresh(mut self, outcome: RefreshOutcome) -> Self {
        self.outcomes.push_back(outcome);
        self
    }

    /// Whether a refresh token is stored (default true). `false` is an authorization-code
    /// grant without one, such as a Shopify offline token.
    pub fn refresh_allowed(mut self, allowed: bool) -> Self {
        self.refresh_allowed = allowed;
        self
    }
}

/// What the seeded grant is now.
struct Live {
    token: Option<String>,
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
        Ok(SeededTokens {
            connection: connection.to_string(),
            can_refresh,
            live: Mutex::new(Live {
                token: state.token,
                expires_at: state.expires_in.map(|d| now_unix() + d.as_secs() as i64),
                granted: state.scopes.unwrap_or_else(|| oauth.scopes.clone()),
                reauth: None,
                cooldown: None,
                outcomes: state.outcomes,
            }),
            provider,
            requests: AtomicUsize::new(0),
        })
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
    fn obtain(&self, min_ttl: Duration, replace: bool) -> Result<String, TokenError> {
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
            return Ok(token);
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
                return Ok(token);
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

    fn refresh(&self, live: &mut Live) -> Result<String, TokenError> {
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
                live.expires_at = set.expires_in.map(|d| now_unix() + d.as_secs() as i64);
                if let Some(scopes) = set.scopes {
                    live.granted = scopes;
                }
                self.missing_scopes(live)?;
                Ok(token)
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

impl TokenSource for SeededTokens {
    fn token(&self, min_ttl: Duration) -> BoxFuture<'_, Result<String, DoorError>> {
        let result = self.obtain(min_ttl, false).map_err(door_error);
        Box::pin(std::future::ready(result))
    }

    fn force_refresh(&self) -> BoxFuture<'_, Result<String, DoorError>> {
        let result = self.obtain(Duration::ZERO, true).map_err(door_error);
        Box::pin(std::future::ready(result))
    }

    fn granted_scopes(&self) -> BoxFuture<'_, Result<Vec<String>, DoorError>> {
        let scopes = self.lock().granted.clone();
        Box::pin(std::future::ready(Ok(scopes)))
    }
}
