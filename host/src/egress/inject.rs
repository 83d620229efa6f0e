//! Host-side credential injection for outbound requests.
//!
//! Owns [`Auth`] (what the guest asked for: none, OAuth, bearer from a secret setting,
//! basic from secret settings), the [`TokenSource`] and [`SecretSource`] seams, and the
//! functions that turn an `Auth` into one sensitive header. The header *name* is known
//! before any credential is fetched so the guest's headers can be checked against it.
//!
//! It must only be called after the URL and address checks passed (`Egress::send`
//! keeps that order), and must never put a credential into an error message.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use http::header::{self, HeaderName, HeaderValue};

use super::error::{EgressError, EgressErrorCode, SecretError, TokenError};
use super::headers::is_host_controlled;
use super::transport::BoxFuture;

/// Supplies the connection's OAuth access token (cached or refreshed, single flight).
pub trait TokenSource: Send + Sync {
    /// A token valid for at least `min_ttl`, refreshing first if needed.
    fn token(&self, min_ttl: Duration) -> BoxFuture<'_, Result<String, TokenError>>;
    /// Refreshes now regardless of the cached expiry (after a provider's 401).
    fn force_refresh(&self) -> BoxFuture<'_, Result<String, TokenError>>;
    /// The scopes the provider granted.
    fn granted_scopes(&self) -> BoxFuture<'_, Result<Vec<String>, TokenError>> {
        Box::pin(async {
            Err(TokenError::new(
                super::error::TokenErrorCode::NotPermitted,
                "this token source does not report granted scopes",
            ))
        })
    }
}

/// Reads a secret setting of the connection by name, for `bearer` and `basic` auth.
pub trait SecretSource: Send + Sync {
    /// The value of the secret setting `name`.
    fn secret(&self, name: &str) -> Result<String, SecretError>;
}

/// A [`SecretSource`] that has no secrets at all.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    fn secret(&self, name: &str) -> Result<String, SecretError> {
        Err(SecretError::NotFound(name.to_owned()))
    }
}

/// OAuth injection: the token under `header` (default `Authorization`) after `prefix`
/// (default `Bearer `; an empty prefix sends the bare token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthAuth {
    /// Minimum remaining lifetime of the injected token, in seconds.
    pub min_ttl_seconds: u32,
    /// Header name; `authorization` when `None`.
    pub header: Option<String>,
    /// Value prefix; `Bearer ` when `None`.
    pub prefix: Option<String>,
}

/// HTTP basic credentials from secret settings, named here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// Name of the secret setting that holds the user name.
    pub username_secret: String,
    /// Name of the secret setting that holds the password, if any.
    pub password_secret: Option<String>,
}

/// How the host authenticates an outbound request. Holds names, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credential.
    None,
    /// The connection's OAuth access token.
    OAuth(OAuthAuth),
    /// `Authorization: Bearer <value of the named secret setting>`.
    Bearer(String),
    /// `Authorization: Basic base64(user:password)` from named secret settings.
    Basic(BasicAuth),
}

/// A credential ready to put on a request. Its `Debug` hides the value.
pub struct Credential {
    /// Header name.
    pub name: HeaderName,
    /// Header value, marked sensitive.
    pub value: HeaderValue,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("name", &self.name)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

/// The header name this auth will inject, validated, without fetching anything.
pub fn injected_header_name(auth: &Auth) -> Result<Option<HeaderName>, EgressError> {
    match auth {
        Auth::None => Ok(None),
        Auth::Bearer(_) | Auth::Basic(_) => Ok(Some(header::AUTHORIZATION)),
        Auth::OAuth(oauth) => {
            let Some(raw) = &oauth.header else {
                return Ok(Some(header::AUTHORIZATION));
            };
            let name = HeaderName::from_bytes(raw.as_bytes()).map_err(|_| {
                EgressError::invalid("auth.oauth.header is not a valid HTTP header name")
            })?;
            if is_host_controlled(&name) || name == header::CONTENT_TYPE || name == header::COOKIE {
                return Err(EgressError::invalid(format!(
                    "auth.oauth.header `{name}` cannot carry a token"
                )));
            }
            Ok(Some(name))
        }
    }
}

/// Fetches the credential for `auth`. `refreshed` is a token obtained by a forced
/// refresh, used instead of asking the source again.
pub async fn credential(
    auth: &Auth,
    tokens: Option<&dyn TokenSource>,
    secrets: &dyn SecretSource,
    refreshed: Option<&str>,
) -> Result<Option<Credential>, EgressError> {
    let Some(name) = injected_header_name(auth)? else {
        return Ok(None);
    };
    let text = match auth {
        Auth::None => return Ok(None),
        Auth::OAuth(oauth) => {
            let token = match refreshed {
                Some(token) => token.to_owned(),
                None => {
                    let source = tokens.ok_or_else(no_oauth)?;
                    let min_ttl = Duration::from_secs(u64::from(oauth.min_ttl_seconds));
                    source.token(min_ttl).await?
                }
            };
            let prefix = oauth.prefix.as_deref().unwrap_or("Bearer ");
            if HeaderValue::from_str(prefix).is_err() {
                return Err(EgressError::invalid(
                    "auth.oauth.prefix contains characters not allowed in a header value",
                ));
            }
            format!("{prefix}{token}")
        }
        Auth::Bearer(secret_name) => format!("Bearer {}", secrets.secret(secret_name)?),
        Auth::Basic(basic) => {
            let user = secrets.secret(&basic.username_secret)?;
            if user.contains(':') {
                return Err(EgressError::invalid(format!(
                    "secret setting `{}` used as a basic-auth user name contains `:`",
                    basic.username_secret
                )));
            }
            let password = match &basic.password_secret {
                Some(name) => secrets.secret(name)?,
                None => String::new(),
            };
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {encoded}")
        }
    };
    let mut value = HeaderValue::from_str(&text).map_err(|_| {
        EgressError::new(
            EgressErrorCode::Internal,
            format!("the credential for header `{name}` is not a valid HTTP header value"),
        )
    })?;
    value.set_sensitive(true);
    Ok(Some(Credential { name, value }))
}

/// Forces one token refresh for an OAuth request that got a 401.
pub async fn force_refresh(tokens: Option<&dyn TokenSource>) -> Result<String, EgressError> {
    let source = tokens.ok_or_else(no_oauth)?;
    Ok(source.force_refresh().await?)
}

fn no_oauth() -> EgressError {
    EgressError::new(
        EgressErrorCode::NotPermitted,
        "auth oauth was requested but this connector has no OAuth configuration",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Secrets(HashMap<&'static str, &'static str>);

    impl SecretSource for Secrets {
        fn secret(&self, name: &str) -> Result<String, SecretError> {
            self.0
                .get(name)
                .map(|v| v.to_string())
                .ok_or_else(|| SecretError::NotFound(name.to_owned()))
        }
    }

    struct Fixed(&'static str);

    impl TokenSource for Fixed {
        fn token(&self, _min_ttl: Duration) -> BoxFuture<'_, Result<String, TokenError>> {
            Box::pin(async move { Ok(self.0.to_owned()) })
        }
        fn force_refresh(&self) -> BoxFuture<'_, Result<String, TokenError>> {
            Box::pin(async move { Ok(format!("{}-new", self.0)) })
        }
    }

    fn oauth(header: Option<&str>, prefix: Option<&str>) -> Auth {
        Auth::OAuth(OAuthAuth {
            min_ttl_seconds: 60,
            header: header.map(str::to_owned),
            prefix: prefix.map(str::to_owned),
        })
    }

    #[tokio::test]
    async fn oauth_default_and_shopify_shapes() {
        let t = Fixed("tok-123");
        let c = credential(&oauth(None, None), Some(&t), &NoSecrets, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.name, header::AUTHORIZATION);
        assert_eq!(c.value, "Bearer tok-123");
        assert!(c.value.is_sensitive());
        assert!(!format!("{c:?}").contains("tok-123"));
        let s = oauth(Some("X-Shopify-Access-Token"), Some(""));
        let c = credential(&s, Some(&t), &NoSecrets, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.name.as_str(), "x-shopify-access-token");
        assert_eq!(c.value, "tok-123");
        let c = credential(&s, Some(&t), &NoSecrets, Some("fresh"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.value, "fresh");
    }

    #[tokio::test]
    async fn oauth_without_source_is_not_permitted() {
        let err = credential(&oauth(None, None), None, &NoSecrets, None)
            .await
            .unwrap_err();
        assert_eq!(err.code, EgressErrorCode::NotPermitted);
    }

    #[tokio::test]
    async fn bad_oauth_header_names() {
        for bad in ["Host", "content-length", "bad name", "Transfer-Encoding"] {
            let err = injected_header_name(&oauth(Some(bad), None)).unwrap_err();
            assert_eq!(err.code, EgressErrorCode::InvalidInput, "{bad}");
        }
    }

    #[tokio::test]
    async fn bearer_and_basic_from_secrets() {
        let s = Secrets(HashMap::from([
            ("api_key", "k-999"),
            ("user", "alice"),
            ("pw", "s3cret"),
        ]));
        let c = credential(&Auth::Bearer("api_key".into()), None, &s, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.value, "Bearer k-999");
        let basic = Auth::Basic(BasicAuth {
            username_secret: "user".into(),
            password_secret: Some("pw".into()),
        });
        let c = credential(&basic, None, &s, None).await.unwrap().unwrap();
        assert_eq!(c.value, "Basic YWxpY2U6czNjcmV0");
        let missing = Auth::Bearer("nope".into());
        let err = credential(&missing, None, &s, None).await.unwrap_err();
        assert_eq!(err.code, EgressErrorCode::NotFound);
        assert!(err.message.contains("nope"));
    }

    #[tokio::test]
    async fn token_with_newline_is_refused_without_echo() {
        let t = Fixed("evil\r\nX-Injected: 1");
        let err = credential(&oauth(None, None), Some(&t), &NoSecrets, None)
            .await
            .unwrap_err();
        assert_eq!(err.code, EgressErrorCode::Internal);
        assert!(!err.message.contains("evil"));
    }
}
