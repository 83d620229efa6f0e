//! What a test seeds a grant with: [`OAuthState`] (a token or none, its type, granted
//! scopes, expiry, whether a refresh token is stored) and the queue of [`RefreshOutcome`]s,
//! each standing for one answer of the provider's token endpoint.
//!
//! This module owns the seed and the token endpoint answers it stands for. It must not
//! decide what an answer means (`oauth.rs` hands it to the host's classification), and
//! must not put a token value into an error message or a log line.

use keyway_host::oauth::TokenPaths;
use keyway_host::oauth::http::RawResponse;
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
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
    pub(crate) fn raw(&self, paths: &TokenPaths) -> RawResponse {
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
    pub(crate) token: Option<String>,
    pub(crate) token_type: Option<String>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) required_scopes: Option<Vec<String>>,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) refresh_allowed: bool,
    pub(crate) outcomes: VecDeque<RefreshOutcome>,
}

impl OAuthState {
    /// A connected grant with `token` of type `Bearer`; scopes default to the manifest's
    /// (none for an app connection), no expiry, a refresh token stored (when the manifest
    /// enables refresh).
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
            token_type: Some("Bearer".to_string()),
            scopes: None,
            required_scopes: None,
            expires_in: None,
            refresh_allowed: true,
            outcomes: VecDeque::new(),
        }
    }

    /// The provider's `token_type` for the seeded token (default `Bearer`; `None` when
    /// the provider gave none). An app connection's `access_token` reports it; a
    /// refreshed token has the type the refresh answered (`bearer`).
    pub fn token_type(mut self, token_type: Option<&str>) -> Self {
        self.token_type = token_type.map(str::to_string);
        self
    }

    /// The scopes the provider granted (default: every scope the manifest requests; for
    /// an app connection, none).
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
    /// `missing_scopes`. The host requires no scopes of an app connection, so an app
    /// connection's state may not set them.
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
