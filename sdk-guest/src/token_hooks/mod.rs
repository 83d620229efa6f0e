//! Token hooks: shape the token requests of a provider whose token endpoint is not
//! standard (a JSON body, renamed or extra answer fields, a refresh answer without a
//! refresh token), without ever holding a secret.
//!
//! Implement [`TokenHooks`] on a type of your own and export it with
//! [`token_hooks!`](crate::token_hooks); list the hooks the host should call in the
//! manifest's `connection.oauth.hooks` (`tokenRequest`, `refreshRequest`,
//! `credentialsFromTokenResponse`). A hook not listed is not called, and the host does
//! that step the standard way.
//!
//! Where a secret goes, write a [`Placeholder`]: the host fills it in headers and body
//! (never in the URL) and sends the request itself, to the origin of the connection's
//! token URL only. `credentials_from_token_response` sees the answer with every token
//! and secret replaced by `"[secret]"`, and says at which path each credential is: the
//! host reads the real values there. Hooks run in a sandbox with a short deadline and no
//! doors: `Http`, `OAuth`, `Secrets`, `Settings` and `ingest` all refuse.
//!
//! ```ignore
//! use keyway_sdk::token_hooks::{Credentials, Field, Grant, Placeholder, TokenContext, TokenHooks, TokenRequest};
//! use keyway_sdk::Error;
//!
//! struct Acme;
//!
//! impl TokenHooks for Acme {
//!     fn token_request(ctx: TokenContext) -> Result<TokenRequest, Error> {
//!         Ok(TokenRequest::post(&ctx.token_url).json(&serde_json::json!({
//!             "grant_type": "authorization_code",
//!             "code": Placeholder::Code,
//!             "client_id": Placeholder::ClientId,
//!             "client_secret": Placeholder::ClientSecret,
//!             "redirect_uri": Placeholder::RedirectUri,
//!         }))?)
//!     }
//!
//!     fn credentials_from_token_response(
//!         _grant: Grant,
//!         _status: u16,
//!         answer: serde_json::Value,
//!     ) -> Result<Credentials, Error> {
//!         let mut c = Credentials::at("data.access_token")
//!             .refresh_token_at("data.refresh_token")
//!             .expires_in(Field::path("data.expires_in"));
//!         if answer["data"]["tenant"].is_string() {
//!             c = c.extra("tenant", Field::path("data.tenant"));
//!         }
//!         Ok(c)
//!     }
//! }
//!
//! keyway_sdk::token_hooks!(Acme);
//! ```

use crate::{Error, ErrorCode, Method};

/// A value only the host holds, written where it goes in a request. Its text is
/// `{name}` (for example `{client_secret}`); in `serde_json::json!` it serializes as that
/// text, so it can stand for a JSON string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// The OAuth client id.
    ClientId,
    /// The OAuth client secret.
    ClientSecret,
    /// `Basic base64(client_id:client_secret)`, for an `Authorization` header.
    ClientBasic,
    /// The authorization code (code exchange only).
    Code,
    /// The PKCE code verifier (code exchange only).
    CodeVerifier,
    /// The redirect URI of the authorization (code exchange only).
    RedirectUri,
    /// The stored refresh token (refresh only).
    RefreshToken,
}

impl Placeholder {
    /// The placeholder's text, `{name}`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Placeholder::ClientId => "{client_id}",
            Placeholder::ClientSecret => "{client_secret}",
            Placeholder::ClientBasic => "{client_basic}",
            Placeholder::Code => "{code}",
            Placeholder::CodeVerifier => "{code_verifier}",
            Placeholder::RedirectUri => "{redirect_uri}",
            Placeholder::RefreshToken => "{refresh_token}",
        }
    }
}

impl std::fmt::Display for Placeholder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Placeholder {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl From<Placeholder> for String {
    fn from(p: Placeholder) -> String {
        p.as_str().to_string()
    }
}

/// What a request hook may read. Nothing here is secret.
#[derive(Debug, Clone)]
pub struct TokenContext {
    /// The connection's resolved token URL; a request must stay on its origin.
    pub token_url: String,
    /// The connection's non-secret settings (strings as they are, other values as JSON).
    pub settings: Vec<(String, String)>,
    /// The scopes asked for (code exchange) or granted so far (refresh).
    pub scopes: Vec<String>,
}

impl TokenContext {
    /// The non-secret setting `name`.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenBody {
    None,
    /// Form fields, encoded by the host after filling.
    Form(Vec<(String, String)>),
    /// JSON text; placeholders are filled inside its string values.
    Json(String),
}

/// The token request a hook describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: TokenBody,
}

impl TokenRequest {
    /// A `POST` to `url` with no headers and no body.
    pub fn post(url: &str) -> Self {
        TokenRequest {
            method: Method::Post,
            url: url.to_string(),
            headers: Vec::new(),
            body: TokenBody::None,
        }
    }

    /// Adds a header; its value may hold placeholders (`Placeholder::ClientBasic`).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// A form body; values may be placeholders.
    pub fn form<K: Into<String>, V: Into<String>>(
        mut self,
        fields: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.body = TokenBody::Form(
            fields
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// A JSON body; string values may be placeholders.
    pub fn json<T: serde::Serialize>(mut self, value: &T) -> Result<Self, Error> {
        self.body = TokenBody::Json(serde_json::to_string(value)?);
        Ok(self)
    }
}

/// Where a credential field is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A dotted path into the provider's real answer (`data.expires_in`, `items.0.id`).
    Path(String),
    /// A value of your own (not allowed for the tokens themselves).
    Value(String),
}

impl Field {
    pub fn path(path: &str) -> Self {
        Field::Path(path.to_string())
    }

    pub fn value(value: impl Into<String>) -> Self {
        Field::Value(value.into())
    }
}

/// How the host reads the answer. The tokens are named only by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<Field>,
    pub scope: Option<Field>,
    pub token_type: Option<Field>,
    pub extras: Vec<(String, Field)>,
}

impl Credentials {
    /// The access token is at `path`.
    pub fn at(path: &str) -> Self {
        Credentials {
            access_token: path.to_string(),
            refresh_token: None,
            expires_in: None,
            scope: None,
            token_type: None,
            extras: Vec::new(),
        }
    }

    /// The refresh token is at `path` (an answer without it keeps the stored one).
    pub fn refresh_token_at(mut self, path: &str) -> Self {
        self.refresh_token = Some(path.to_string());
        self
    }

    pub fn expires_in(mut self, field: Field) -> Self {
        self.expires_in = Some(field);
        self
    }

    pub fn scope(mut self, field: Field) -> Self {
        self.scope = Some(field);
        self
    }

    pub fn token_type(mut self, field: Field) -> Self {
        self.token_type = Some(field);
        self
    }

    /// A field the host stores as the connection setting `name` (a plain string property
    /// of `settingsSchema`); a refresh that does not return it keeps the stored value.
    pub fn extra(mut self, name: &str, field: Field) -> Self {
        self.extras.push((name.to_string(), field));
        self
    }
}

/// Which exchange an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    AuthorizationCode,
    Refresh,
}

fn not_declared(hook: &str) -> Error {
    Error::new(
        ErrorCode::NotPermitted,
        format!("this connector does not implement the `{hook}` token hook"),
    )
}

/// A connector's token hooks. Implement the ones the manifest lists; the others keep
/// their default, which refuses.
pub trait TokenHooks {
    /// The authorization-code exchange (`tokenRequest`).
    fn token_request(_ctx: TokenContext) -> Result<TokenRequest, Error> {
        Err(not_declared("tokenRequest"))
    }

    /// The refresh-token exchange (`refreshRequest`).
    fn refresh_request(_ctx: TokenContext) -> Result<TokenRequest, Error> {
        Err(not_declared("refreshRequest"))
    }

    /// Reads a 2xx answer (`credentialsFromTokenResponse`); `answer` is scrubbed.
    fn credentials_from_token_response(
        _grant: Grant,
        _status: u16,
        _answer: serde_json::Value,
    ) -> Result<Credentials, Error> {
        Err(not_declared("credentialsFromTokenResponse"))
    }
}

mod export;

#[doc(hidden)]
pub use export::{__credentials, __from_wit_context, __to_wit_request};

#[cfg(test)]
mod tests;
