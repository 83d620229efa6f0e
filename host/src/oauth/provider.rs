//! The resolved OAuth configuration of one provider, as the flows consume it: endpoints
//! (already expanded from templates or discovered), grant type, scopes and their separator,
//! PKCE, client authentication method, token-response paths and refresh behaviour.
//!
//! Owns: `ProviderConfig` and its small enums, plus reading a token response through the
//! configured dotted paths.
//! Must not: hold client secrets (those live in the store) or parse manifests.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use url::Url;

/// The grant a connection uses (the manifest's `oauth.type`).
pub use crate::manifest::OAuthFlow as GrantType;

/// How the client authenticates at the token endpoint (the manifest's `client.authMethod`).
pub use crate::manifest::ClientAuthMethod;

/// Dotted paths into the token endpoint's JSON (e.g. `data.access_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPaths {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: String,
    pub scope: String,
    pub token_type: String,
}

impl Default for TokenPaths {
    fn default() -> Self {
        TokenPaths {
            access_token: "access_token".into(),
            refresh_token: "refresh_token".into(),
            expires_in: "expires_in".into(),
            scope: "scope".into(),
            token_type: "token_type".into(),
        }
    }
}

/// Resolved provider configuration.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub authorization_url: Option<Url>,
    pub token_url: Url,
    pub revocation_url: Option<Url>,
    pub grant_type: GrantType,
    /// Scopes requested by default (the operator may override them per authorization).
    pub scopes: Vec<String>,
    pub scope_separator: String,
    /// Adds `access_type=offline` to the authorization request.
    pub access_type_offline: bool,
    /// PKCE S256 on the authorization-code flow.
    pub pkce: bool,
    pub extra_authorize_params: Vec<(String, String)>,
    pub client_auth: ClientAuthMethod,
    pub token_paths: TokenPaths,
    /// `false` when the provider issues no refresh tokens (the token is used until it expires).
    pub refresh_enabled: bool,
    /// Scopes the connector needs; missing ones give `missing_scopes`.
    pub required_scopes: Vec<String>,
    /// Extra query parameters the provider adds to the callback (e.g. `realmId`) to keep.
    pub callback_params: Vec<String>,
    /// Set when the provider names an OIDC issuer: an id_token it returns is validated
    /// (and one is required when `openid` was requested) before any token is stored.
    pub id_token: Option<super::id_token::IdTokenCheck>,
    /// The connector's token hooks (`connection.oauth.hooks`), when it declares any.
    pub hooks: Option<super::hooks::TokenHooks>,
}

impl ProviderConfig {
    /// A configuration with the common defaults: space-separated scopes, PKCE on, Basic
    /// client authentication, standard token paths, refresh enabled.
    pub fn new(grant_type: GrantType, token_url: Url) -> Self {
        ProviderConfig {
            authorization_url: None,
            token_url,
            revocation_url: None,
            grant_type,
            scopes: Vec::new(),
            scope_separator: " ".into(),
            access_type_offline: false,
            pkce: true,
            extra_authorize_params: Vec::new(),
            client_auth: ClientAuthMethod::Basic,
            token_paths: TokenPaths::default(),
            refresh_enabled: true,
            required_scopes: Vec::new(),
            callback_params: Vec::new(),
            id_token: None,
            hooks: None,
        }
    }

    /// Joins scopes with the provider's separator.
    pub(crate) fn join_scopes(&self, scopes: &[String]) -> String {
        scopes.join(&self.scope_separator)
    }

    /// Splits a granted-scope string on the configured separator and on whitespace.
    pub(crate) fn split_scopes(&self, text: &str) -> Vec<String> {
        let sep = self.scope_separator.trim();
        text.split(|c: char| c.is_whitespace() || (!sep.is_empty() && sep.contains(c)))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Required scopes absent from `granted`.
    pub fn missing_scopes(&self, granted: &[String]) -> Vec<String> {
        self.required_scopes
            .iter()
            .filter(|s| !granted.contains(s))
            .cloned()
            .collect()
    }
}

/// A token response read through the token paths. `Debug` is redacted.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub token_type: Option<String>,
    pub expires_in: Option<Duration>,
    pub scopes: Option<Vec<String>>,
    /// The OIDC `id_token`, when the answer has one (read at the top level).
    pub id_token: Option<SecretString>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .field("id_token", &self.id_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A token response that does not match the configured paths. Never carries values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenResponseError {
    #[error("the token response is not a JSON object")]
    NotJson,
    #[error("the token response has no `{path}` (configured token path)")]
    Missing { path: String },
    #[error("the token response field `{path}` should be {expected}")]
    WrongType {
        path: String,
        expected: &'static str,
    },
}

/// The longest lifetime a token response may claim: ten years. A larger `expires_in`
/// (`1e300`, `"inf"`, `2^63`, from a broken or hostile provider) is read as this, so the
/// `expires_at` computed from it (`now + expires_in`) neither overflows nor wraps into
/// the past.
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// Looks up a dotted path (`a.b.0.c`) in a JSON value.
pub fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, part| match v {
        Value::Object(map) => map.get(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn opt_string(value: &Value, path: &str) -> Result<Option<String>, TokenResponseError> {
    match lookup(value, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenResponseError::WrongType {
            path: path.to_string(),
            expected: "a string",
        }),
    }
}

impl ProviderConfig {
    /// Reads a successful token response body through the token paths.
    pub fn parse_token_response(&self, body: &[u8]) -> Result<TokenSet, TokenResponseError> {
        let value: Value = serde_json::from_slice(body).map_err(|_| TokenResponseError::NotJson)?;
        if !value.is_object() {
            return Err(TokenResponseError::NotJson);
        }
        let p = &self.token_paths;
        let access_token =
            opt_string(&value, &p.access_token)?.ok_or_else(|| TokenResponseError::Missing {
                path: p.access_token.clone(),
            })?;
        let expires_in = match lookup(&value, &p.expires_in) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64().filter(|f| *f >= 0.0),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok().filter(|f| *f >= 0.0),
            Some(_) => None,
        }
        .map(|secs| Duration::from_secs(secs.min(MAX_EXPIRES_IN.as_secs() as f64) as u64));
        if lookup(&value, &p.expires_in).is_some_and(|v| !v.is_null()) && expires_in.is_none() {
            return Err(TokenResponseError::WrongType {
                path: p.expires_in.clone(),
                expected: "a non-negative number of seconds",
            });
        }
        let scopes = match lookup(&value, &p.scope) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(self.split_scopes(s)),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            ),
            Some(_) => {
                return Err(TokenResponseError::WrongType {
                    path: p.scope.clone(),
                    expected: "a string or a list of strings",
                });
            }
        };
        Ok(TokenSet {
            access_token: SecretString::from(access_token),
            refresh_token: opt_string(&value, &p.refresh_token)?.map(SecretString::from),
            token_type: opt_string(&value, &p.token_type)?,
            expires_in,
            scopes,
            id_token: opt_string(&value, "id_token")?.map(SecretString::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn cfg() -> ProviderConfig {
        ProviderConfig::new(
            GrantType::AuthorizationCode,
            Url::parse("https://example.test/token").unwrap(),
        )
    }

    #[test]
    fn standard_response() {
        let t = cfg()
            .parse_token_response(
                br#"{"access_token":"at","refresh_token":"rt","expires_in":3600,"scope":"a b","token_type":"Bearer"}"#,
            )
            .unwrap();
        assert_eq!(t.access_token.expose_secret(), "at");
        assert_eq!(t.refresh_token.unwrap().expose_secret(), "rt");
        assert_eq!(t.expires_in, Some(Duration::from_secs(3600)));
        assert_eq!(t.scopes.unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn custom_paths_separator_and_string_expiry() {
        let mut c = cfg();
        c.scope_separator = ",".into();
        c.token_paths.access_token = "data.token".into();
        c.token_paths.expires_in = "data.ttl".into();
        c.token_paths.scope = "data.scope".into();
        let t = c
            .parse_token_response(br#"{"data":{"token":"x","ttl":"60","scope":"r,w"}}"#)
            .unwrap();
        assert_eq!(t.access_token.expose_secret(), "x");
        assert_eq!(t.expires_in, Some(Duration::from_secs(60)));
        assert_eq!(t.scopes.unwrap(), vec!["r", "w"]);
        assert!(t.refresh_token.is_none());
    }

    #[test]
    fn bad_responses_name_the_path_without_values() {
        let c = cfg();
        assert_eq!(
            c.parse_token_response(b"<html>").unwrap_err(),
            TokenResponseError::NotJson
        );
        let err = c
            .parse_token_response(br#"{"token":"secret-ish"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("access_token"));
        assert!(!err.to_string().contains("secret-ish"));
        let err = c
            .parse_token_response(br#"{"access_token":"a","expires_in":"soon"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("expires_in"));
        assert!(
            c.parse_token_response(br#"{"access_token":"a"}"#)
                .unwrap()
                .expires_in
                .is_none()
        );
    }

    #[test]
    fn absurd_lifetimes_are_capped_so_the_expiry_stays_in_range() {
        let now = crate::store::now_unix();
        for expires_in in [
            "1e300",
            "\"inf\"",
            "\"1e400\"",
            "9223372036854774784",
            "18446744073709551615",
        ] {
            let body = format!(r#"{{"access_token":"a","expires_in":{expires_in}}}"#);
            let t = cfg().parse_token_response(body.as_bytes()).unwrap();
            assert_eq!(t.expires_in, Some(MAX_EXPIRES_IN), "{expires_in}");
            let write = crate::oauth::refresh::token_write(t, now);
            assert!(write.expires_at.unwrap() > now, "{expires_in}");
        }
        let t = cfg()
            .parse_token_response(br#"{"access_token":"a","expires_in":5184000}"#)
            .unwrap();
        assert_eq!(t.expires_in, Some(Duration::from_secs(5_184_000)));
    }

    #[test]
    fn missing_scopes() {
        let mut c = cfg();
        c.required_scopes = vec!["a".into(), "b".into()];
        assert_eq!(c.missing_scopes(&["a".into()]), vec!["b".to_string()]);
    }
}
