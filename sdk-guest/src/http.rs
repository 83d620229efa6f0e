//! Outbound HTTP through the host: the allowlist, address checks and credential
//! injection happen on the host side, so a route never handles a token it does not need.

use crate::wit::keyway::connector::http as wit;
use crate::{Error, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Which credential the host puts on an outbound request. The route names the
/// credential only: where it may go and in which header is the manifest's injection
/// rule that admits the URL (`connection.oauth.inject`, `connection.inject.<secret>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// The connection's OAuth token, valid for at least this many more seconds.
    OAuth { min_ttl_seconds: u32 },
    /// The secret setting named here (granted `inject` in the manifest).
    Secret(String),
    /// The token of the app connection `name` (granted `inject` in
    /// `permissions.connections`), where its `connection.appInject` rule admits.
    AppConnection { name: String, min_ttl_seconds: u32 },
}

/// Options for one request.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    pub headers: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    pub auth: Auth,
}

impl HttpOptions {
    /// OAuth injection, in the header the manifest's `connection.oauth.inject` rule for
    /// the URL names.
    pub fn oauth(min_ttl_seconds: u32) -> Self {
        HttpOptions {
            auth: Auth::OAuth { min_ttl_seconds },
            ..Default::default()
        }
    }

    /// Injection of the secret setting `name`, as its `connection.inject` rule says.
    pub fn secret(name: &str) -> Self {
        HttpOptions {
            auth: Auth::Secret(name.to_string()),
            ..Default::default()
        }
    }

    /// Adds a request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the per-request timeout (the host caps it).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the authentication.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
}

/// A request body.
#[derive(Debug, Clone, Default)]
pub struct Body {
    bytes: Option<Vec<u8>>,
    content_type: Option<&'static str>,
}

impl Body {
    /// The bytes to send, if any.
    pub(crate) fn into_bytes(self) -> Option<Vec<u8>> {
        self.bytes
    }

    /// No body.
    pub fn empty() -> Self {
        Body::default()
    }

    /// `value` as JSON, with `content-type: application/json` unless the options set one.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, Error> {
        Ok(Body {
            bytes: Some(serde_json::to_vec(value)?),
            content_type: Some("application/json"),
        })
    }

    /// Raw bytes with no content type.
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Body {
            bytes: Some(bytes.into()),
            content_type: None,
        }
    }

    /// A form-encoded body (`application/x-www-form-urlencoded`) from already-encoded text.
    pub fn form(encoded: impl Into<String>) -> Self {
        Body {
            bytes: Some(encoded.into().into_bytes()),
            content_type: Some("application/x-www-form-urlencoded"),
        }
    }
}

impl From<serde_json::Value> for Body {
    fn from(value: serde_json::Value) -> Self {
        Body {
            bytes: Some(value.to_string().into_bytes()),
            content_type: Some("application/json"),
        }
    }
}

/// A provider's answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// True for a 2xx status.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::invalid_input(format!(
                "provider response (status {}) is not the expected JSON: {e}",
                self.status
            ))
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `headers` with the body's content type unless one is set, and the timeout in
/// milliseconds (capped by the host).
pub(crate) fn with_body_type(
    mut headers: Vec<(String, String)>,
    body: &Body,
    timeout: Option<Duration>,
) -> (Vec<(String, String)>, Option<u32>) {
    if let Some(ct) = body.content_type
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".to_string(), ct.to_string()));
    }
    let timeout_ms = timeout.map(|t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX));
    (headers, timeout_ms)
}

impl From<wit::Response> for HttpResponse {
    fn from(res: wit::Response) -> Self {
        HttpResponse {
            status: res.status,
            headers: res.headers,
            body: res.body,
        }
    }
}

/// Outbound HTTP. Every call is checked against the manifest's `permissions.http`.
pub struct Http;

impl Http {
    /// Sends a request with any method.
    pub fn send(
        method: Method,
        url: &str,
        body: Body,
        opts: HttpOptions,
    ) -> Result<HttpResponse, Error> {
        let (headers, timeout_ms) = with_body_type(opts.headers, &body, opts.timeout);
        let auth = match opts.auth {
            Auth::None => wit::Auth::None,
            Auth::OAuth { min_ttl_seconds } => wit::Auth::Oauth(wit::OauthAuth { min_ttl_seconds }),
            Auth::Secret(name) => wit::Auth::Secret(name),
            Auth::AppConnection {
                name,
                min_ttl_seconds,
            } => wit::Auth::OauthConnection(wit::OauthConnectionAuth {
                name,
                min_ttl_seconds,
            }),
        };
        let req = wit::Request {
            method: method.to_wit(),
            url: url.to_string(),
            headers,
            body: body.bytes,
            timeout_ms,
            auth,
        };
        wit::send(&req).map(HttpResponse::from).map_err(Error::from)
    }

    pub fn get(url: &str, opts: HttpOptions) -> Result<HttpResponse, Error> {
        Http::send(Method::Get, url, Body::empty(), opts)
    }

    pub fn post(
        url: &str,
        body: impl Into<Body>,
        opts: HttpOptions,
    ) -> Result<HttpResponse, Error> {
        Http::send(Method::Post, url, body.into(), opts)
    }

    pub fn put(url: &str, body: impl Into<Body>, opts: HttpOptions) -> Result<HttpResponse, Error> {
        Http::send(Method::Put, url, body.into(), opts)
    }

    pub fn patch(
        url: &str,
        body: impl Into<Body>,
        opts: HttpOptions,
    ) -> Result<HttpResponse, Error> {
        Http::send(Method::Patch, url, body.into(), opts)
    }

    pub fn delete(url: &str, opts: HttpOptions) -> Result<HttpResponse, Error> {
        Http::send(Method::Delete, url, Body::empty(), opts)
    }
}
