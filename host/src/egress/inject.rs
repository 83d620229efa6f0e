//! Host-side credential injection for outbound requests, bound to where each credential
//! may go.
//!
//! Owns [`Auth`] (what the guest asked for: nothing, the OAuth token, or a named secret
//! setting), [`Bindings`] (the connection's injection rules: for each credential, the URL
//! patterns it may be sent to and the header shape it takes there), the [`TokenSource`]
//! and [`SecretSource`] seams, and [`credential`], which turns an `Auth` plus the rule
//! that admitted the URL into one sensitive header. The guest chooses only *which*
//! credential; the header name, prefix or basic shape always come from the rule, so a
//! guest cannot move a token into a header the provider reflects.
//!
//! It must only be called after the URL and address checks passed (`Egress::send` keeps
//! that order), and must never put a credential into an error message.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use http::header::{HeaderName, HeaderValue};
use url::Url;

use super::error::{EgressError, EgressErrorCode, SecretError, TokenError};
use super::policy::{UrlPolicy, origin_of};
use crate::types::BoxFuture;

/// Supplies the connection's OAuth access token (cached or refreshed, single flight).
pub trait TokenSource: Send + Sync {
    /// A token valid for at least `min_ttl`, refreshing first if needed.
    fn token(&self, min_ttl: Duration) -> BoxFuture<'_, Result<String, TokenError>>;
    /// Asks for a token other than the one a provider just rejected with a 401. A source
    /// may answer with the same token when it refreshed very recently (the rejection is
    /// then not the token's fault and a refresh would not help).
    fn force_refresh(&self) -> BoxFuture<'_, Result<String, TokenError>>;
    /// A token valid for at least `min_ttl` with what is known of it (type, expiry).
    fn token_details(&self, min_ttl: Duration) -> BoxFuture<'_, Result<TokenDetails, TokenError>> {
        Box::pin(async move {
            Ok(TokenDetails {
                access_token: self.token(min_ttl).await?,
                token_type: None,
                expires_at: None,
            })
        })
    }
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

/// An access token with its type and expiry (unix seconds), as the `oauth` door's
/// `access-token-for` answers it. `Debug` hides the token.
#[derive(Clone)]
pub struct TokenDetails {
    pub access_token: String,
    pub token_type: Option<String>,
    pub expires_at: Option<i64>,
}

impl fmt::Debug for TokenDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenDetails")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Reads a secret setting of the connection by name, for injection.
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

/// OAuth injection: the minimum remaining lifetime of the injected token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthAuth {
    /// Minimum remaining lifetime of the injected token, in seconds.
    pub min_ttl_seconds: u32,
}

/// Which credential the host puts on an outbound request. Holds names, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credential.
    None,
    /// The connection's OAuth access token.
    OAuth(OAuthAuth),
    /// The secret setting of this name.
    Secret(String),
    /// The access token of the app connection of this name.
    AppConnection(AppConnectionAuth),
}

/// `auth: oauth-connection(name)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConnectionAuth {
    pub name: String,
    pub min_ttl_seconds: u32,
}

/// The app connections an invocation may use, by name (only those its manifest grants
/// and the host defines).
pub type AppTokens = std::collections::BTreeMap<String, std::sync::Arc<dyn TokenSource>>;

/// A guest-given app connection name as messages show it: at most 64 characters, no
/// control characters (the guest may send a megabyte of newlines as a "name").
pub(crate) fn shown_name(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// No app connections, for an invocation granted none.
pub static NO_APP_TOKENS: AppTokens = AppTokens::new();

impl Auth {
    /// Whether this is an OAuth token (the connection's or an app connection's), which a
    /// 401 may refresh, and the lifetime it must have left.
    pub(crate) fn token_ttl(&self) -> Option<u32> {
        match self {
            Auth::OAuth(o) => Some(o.min_ttl_seconds),
            Auth::AppConnection(a) => Some(a.min_ttl_seconds),
            Auth::None | Auth::Secret(_) => None,
        }
    }

    /// The token source this credential comes from: the connection's own, or the named
    /// app connection's; refused when there is none.
    pub(crate) fn token_source<'a>(
        &self,
        tokens: Option<&'a dyn TokenSource>,
        apps: &'a AppTokens,
    ) -> Result<&'a dyn TokenSource, EgressError> {
        match self {
            Auth::AppConnection(a) => apps.get(&a.name).map(|s| &**s).ok_or_else(|| {
                EgressError::new(
                    EgressErrorCode::NotFound,
                    format!(
                        "app connection `{0}` is not defined on this host; create it with `keyway app-connections create {0}`",
                        shown_name(&a.name)
                    ),
                )
            }),
            _ => tokens.ok_or_else(no_oauth),
        }
    }
}

/// How a credential is written into its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InjectFormat {
    /// `<prefix><value>`; an empty prefix sends the bare value.
    Prefix(String),
    /// `Basic base64(<value>:<password>)`, the password from the named secret setting.
    Basic {
        /// Secret setting holding the password; none sends an empty password.
        password_secret: Option<String>,
    },
}

/// One rule: the credential may go to URLs `admits` allows, in `header`, shaped by
/// `format`.
#[derive(Clone)]
pub struct InjectRule {
    /// The URLs this rule admits (the rule's pattern, expanded with the settings).
    pub admits: Arc<dyn UrlPolicy>,
    /// Where the rule is and what it says, for messages (e.g.
    /// `connection.oauth.inject[0] (https://api.example.com/*)`).
    pub describe: String,
    /// The header that carries the credential.
    pub header: HeaderName,
    /// How the value is written.
    pub format: InjectFormat,
}

impl fmt::Debug for InjectRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InjectRule")
            .field("describe", &self.describe)
            .field("header", &self.header)
            .field("format", &self.format)
            .finish()
    }
}

/// Every injection rule of one connection. No rule, no injection.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    /// Rules for the OAuth access token, in manifest order (the first that admits wins).
    pub oauth: Vec<InjectRule>,
    /// Rules for each secret setting granted `inject`, in manifest order.
    pub secrets: BTreeMap<String, Vec<InjectRule>>,
    /// Rules for each app connection granted `inject`, in manifest order.
    pub apps: BTreeMap<String, Vec<InjectRule>>,
    /// Rules that could not be bound for this connection, with the reason (a setting
    /// their URL needs is missing); named in refusals so an author sees why.
    pub unbound: Vec<String>,
}

impl Bindings {
    /// The rule that admits injecting `auth` into a request to `url`; `None` for
    /// [`Auth::None`]. With no admitting rule the request is refused with
    /// `not_permitted`, naming the rules that exist (or saying there are none).
    pub(crate) fn rule_for(
        &self,
        auth: &Auth,
        url: &Url,
    ) -> Result<Option<&InjectRule>, EgressError> {
        let (rules, what, place) = match auth {
            Auth::None => return Ok(None),
            Auth::OAuth(_) => (
                self.oauth.as_slice(),
                "the OAuth token".to_owned(),
                "connection.oauth.inject".to_owned(),
            ),
            Auth::Secret(name) => match self.secrets.get(name) {
                Some(rules) => (
                    rules.as_slice(),
                    format!("secret setting `{name}`"),
                    format!("connection.inject.{name}"),
                ),
                None => {
                    return Err(EgressError::new(
                        EgressErrorCode::NotPermitted,
                        format!(
                            "secret setting `{name}` may not be injected: the manifest needs \
                             permissions.secrets.{name}: [\"inject\"] and a connection.inject.{name} rule"
                        ),
                    ));
                }
            },
            Auth::AppConnection(a) => match self.apps.get(&a.name) {
                Some(rules) => (
                    rules.as_slice(),
                    format!("the token of app connection `{}`", shown_name(&a.name)),
                    format!("connection.appInject.{}", shown_name(&a.name)),
                ),
                None => {
                    return Err(EgressError::new(
                        EgressErrorCode::NotPermitted,
                        format!(
                            "app connection `{0}` may not be injected: the manifest needs \
                             permissions.connections.{0}: [\"inject\"] and a connection.appInject.{0} rule",
                            shown_name(&a.name)
                        ),
                    ));
                }
            },
        };
        if let Some(rule) = rules.iter().find(|r| r.admits.allows(url)) {
            return Ok(Some(rule));
        }
        let target = format!("{}{}", origin_of(url), url.path());
        let mut message = if rules.is_empty() {
            format!("{what} may not be sent to {target}: the manifest has no {place} rule")
        } else {
            let listed: Vec<&str> = rules.iter().map(|r| r.describe.as_str()).collect();
            format!(
                "{what} may not be sent to {target}: no {place} rule admits it (rules: {})",
                listed.join(", ")
            )
        };
        if !self.unbound.is_empty() {
            message.push_str(&format!("; not bound here: {}", self.unbound.join("; ")));
        }
        Err(EgressError::new(EgressErrorCode::NotPermitted, message))
    }
}

/// A credential ready to put on a request. Its `Debug` hides the value.
pub(crate) struct Credential {
    /// Header name.
    pub name: HeaderName,
    /// Header value, marked sensitive.
    pub value: HeaderValue,
    /// The raw token or secret, and every other spelling of it that went on the wire
    /// (the whole header value, a basic pair's base64 and password): what must be
    /// scrubbed from the answer and learned by the invocation's redactor.
    pub spellings: Vec<String>,
    /// The OAuth token injected, if this is one (to tell whether a refresh changed it).
    pub token: Option<String>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("name", &self.name)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

/// The credential values injected during one invocation, for its redactor to learn.
#[derive(Default)]
pub struct InjectedValues(Mutex<Vec<String>>);

impl InjectedValues {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the spellings of one injected credential.
    pub fn record(&self, spellings: &[String]) {
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for s in spellings {
            if !v.contains(s) {
                v.push(s.clone());
            }
        }
    }

    /// Takes everything recorded so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl fmt::Debug for InjectedValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.lock().map(|v| v.len()).unwrap_or(0);
        write!(f, "InjectedValues({n} values)")
    }
}

/// Fetches the credential for `auth` and shapes it as `rule` says. `refreshed` is a
/// token obtained by a forced refresh, used instead of asking the source again.
pub async fn credential(
    auth: &Auth,
    rule: &InjectRule,
    tokens: Option<&dyn TokenSource>,
    apps: &AppTokens,
    secrets: &dyn SecretSource,
    refreshed: Option<&str>,
) -> Result<Credential, EgressError> {
    let (value, token) = match (auth, auth.token_ttl()) {
        (Auth::None, _) => {
            return Err(EgressError::new(
                EgressErrorCode::Internal,
                "no credential to inject for auth none",
            ));
        }
        (Auth::Secret(name), _) => (secrets.secret(name)?, None),
        (_, ttl) => {
            let token = match refreshed {
                Some(token) => token.to_owned(),
                None => {
                    let source = auth.token_source(tokens, apps)?;
                    let min_ttl = Duration::from_secs(u64::from(ttl.unwrap_or(0)));
                    source.token(min_ttl).await?
                }
            };
            (token.clone(), Some(token))
        }
    };
    let mut spellings = vec![value.clone()];
    let text = match &rule.format {
        InjectFormat::Prefix(prefix) => format!("{prefix}{value}"),
        InjectFormat::Basic { password_secret } => {
            if value.contains(':') {
                return Err(EgressError::invalid(format!(
                    "the basic-auth user name of {} contains `:`",
                    rule.describe
                )));
            }
            let password = match password_secret {
                Some(name) => secrets.secret(name)?,
                None => String::new(),
            };
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{value}:{password}"));
            spellings.push(encoded.clone());
            if !password.is_empty() {
                spellings.push(password);
            }
            format!("Basic {encoded}")
        }
    };
    spellings.push(text.clone());
    let mut header = HeaderValue::from_str(&text).map_err(|_| {
        EgressError::new(
            EgressErrorCode::Internal,
            format!(
                "the credential for header `{}` is not a valid HTTP header value",
                rule.header
            ),
        )
    })?;
    header.set_sensitive(true);
    Ok(Credential {
        name: rule.header.clone(),
        value: header,
        spellings,
        token,
    })
}

/// Forces one token refresh for an OAuth request that got a 401.
pub async fn force_refresh(
    auth: &Auth,
    tokens: Option<&dyn TokenSource>,
    apps: &AppTokens,
) -> Result<String, EgressError> {
    Ok(auth.token_source(tokens, apps)?.force_refresh().await?)
}

/// Why an invocation has no OAuth token to hand out or inject: the connector has an OAuth
/// block (an inject rule admitted the URL), but the invocation runs for no stored
/// connection (an ad-hoc `keyway call` without `--connection`).
pub const NO_STORED_GRANT: &str = "this invocation runs without a stored connection, so it has no OAuth \
     token: run it for an authorized connection (`keyway call <dir> <METHOD> <path> \
     --connection NAME`)";

fn no_oauth() -> EgressError {
    EgressError::new(EgressErrorCode::NotPermitted, NO_STORED_GRANT)
}

#[cfg(test)]
#[path = "inject_tests.rs"]
mod tests;
