//! A hook's token request made real: the URL checked (same origin as the connection's
//! token URL, no placeholder at all), the placeholders of headers and body filled with the
//! secrets only the host holds, and every size capped.
//!
//! A placeholder is `{name}` with `name` of lowercase letters, digits and `_`; any other
//! brace is literal text (so JSON objects need no escaping). An unknown name, or a known
//! one this exchange has no value for, is refused. In a JSON body placeholders are filled
//! only inside string values (JSON-escaped by the serializer); one in a key is refused.
//!
//! Owns: `Placeholder`, `Secrets` and `fill_request`.
//! Must not: send anything, or put a secret value in an error (errors name placeholders,
//! headers and caps, never values).

use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use crate::runtime::{HookBody, HookRequest};
use crate::types::Method;

/// The longest URL a hook may give.
pub const MAX_URL: usize = 2048;
/// The most headers a hook may give.
pub const MAX_HEADERS: usize = 32;
/// The longest header name, and header value (after filling).
pub const MAX_HEADER_NAME: usize = 128;
pub const MAX_HEADER_VALUE: usize = 8 * 1024;
/// The most form fields, and the largest body (after filling).
pub const MAX_FORM_FIELDS: usize = 64;
pub const MAX_BODY: usize = 64 * 1024;

/// Headers the host frames or owns; a hook may not set them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-connection",
    "cookie",
    "user-agent",
];

/// The values a hook can ask for by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    ClientId,
    ClientSecret,
    /// `Basic base64(urlencode(id):urlencode(secret))`, RFC 6749 2.3.1.
    ClientBasic,
    Code,
    CodeVerifier,
    RedirectUri,
    RefreshToken,
}

impl Placeholder {
    /// Every placeholder (the guest SDK's `Placeholder` names the same; a test of
    /// `keyway-testing` holds the two to it).
    pub const ALL: [Placeholder; 7] = [
        Placeholder::ClientId,
        Placeholder::ClientSecret,
        Placeholder::ClientBasic,
        Placeholder::Code,
        Placeholder::CodeVerifier,
        Placeholder::RedirectUri,
        Placeholder::RefreshToken,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Placeholder::ClientId => "client_id",
            Placeholder::ClientSecret => "client_secret",
            Placeholder::ClientBasic => "client_basic",
            Placeholder::Code => "code",
            Placeholder::CodeVerifier => "code_verifier",
            Placeholder::RedirectUri => "redirect_uri",
            Placeholder::RefreshToken => "refresh_token",
        }
    }

    fn parse(name: &str) -> Option<Placeholder> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The secrets (and plain values) one exchange may fill in. `Debug` shows which are set.
#[derive(Default)]
pub struct Secrets {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub code: Option<SecretString>,
    pub code_verifier: Option<SecretString>,
    pub redirect_uri: Option<String>,
    pub refresh_token: Option<SecretString>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("client_secret", &self.client_secret.is_some())
            .field("code", &self.code.is_some())
            .field("code_verifier", &self.code_verifier.is_some())
            .field("refresh_token", &self.refresh_token.is_some())
            .finish()
    }
}

impl Secrets {
    fn value(&self, p: Placeholder) -> Option<String> {
        let secret = |s: &Option<SecretString>| s.as_ref().map(|v| v.expose_secret().to_string());
        match p {
            Placeholder::ClientId => Some(self.client_id.clone()),
            Placeholder::ClientSecret => secret(&self.client_secret),
            Placeholder::ClientBasic => self.client_secret.as_ref().map(|s| {
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let pair = format!("{}:{}", enc(&self.client_id), enc(s.expose_secret()));
                format!(
                    "Basic {}",
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair)
                )
            }),
            Placeholder::Code => secret(&self.code),
            Placeholder::CodeVerifier => secret(&self.code_verifier),
            Placeholder::RedirectUri => self.redirect_uri.clone(),
            Placeholder::RefreshToken => secret(&self.refresh_token),
        }
    }

    /// Every secret value this exchange knows (for scrubbing the answer).
    pub fn secret_values(&self) -> Vec<String> {
        [
            &self.client_secret,
            &self.code,
            &self.code_verifier,
            &self.refresh_token,
        ]
        .into_iter()
        .flatten()
        .map(|s| s.expose_secret().to_string())
        .collect()
    }
}

/// A request ready to send. `Debug` leaves out headers and body.
pub struct FilledRequest {
    pub method: http::Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for FilledRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilledRequest")
            .field("method", &self.method)
            .field("url", &crate::oauth::http::endpoint_of(&self.url))
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Why a hook's request was refused. Never carries a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    #[error("unknown placeholder `{{{0}}}` in {1}")]
    Unknown(String, &'static str),
    #[error("placeholder `{{{0}}}` has no value in this exchange ({1})")]
    Unavailable(&'static str, &'static str),
    #[error("placeholders are filled only in headers and body; the URL has `{{{0}}}`")]
    InUrl(String),
    #[error("the URL is not valid: {0}")]
    BadUrl(String),
    #[error("the URL's origin {found} is not the token URL's origin {expected}")]
    WrongOrigin { found: String, expected: String },
    #[error("{what} is over the {cap}-byte cap")]
    TooLarge { what: String, cap: usize },
    #[error("{count} {what}; at most {cap} are allowed")]
    TooMany {
        what: &'static str,
        count: usize,
        cap: usize,
    },
    #[error("header `{0}` is set by the host")]
    Reserved(String),
    #[error("header name {0:?} is not valid")]
    BadHeaderName(String),
    #[error("header `{0}` has a value that is not valid once filled")]
    BadHeaderValue(String),
    #[error("the JSON body is not valid JSON")]
    BadJson,
    #[error("a JSON key holds a placeholder; fill values only")]
    PlaceholderInKey,
    #[error("a form field name holds a placeholder; fill values only")]
    PlaceholderInFormName,
}

/// Placeholder names in `text`, in order (`{name}`, name of `[a-z0-9_]`, starting with a
/// letter or `_`).
fn placeholders(text: &str) -> Vec<(usize, usize, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len()
                && (bytes[j].is_ascii_lowercase() || bytes[j].is_ascii_digit() || bytes[j] == b'_')
            {
                j += 1;
            }
            if j > start && j < bytes.len() && bytes[j] == b'}' && !bytes[start].is_ascii_digit() {
                out.push((i, j + 1, &text[start..j]));
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// `text` with its placeholders filled from `secrets`; `place` names where it is.
fn fill_text(text: &str, secrets: &Secrets, place: &'static str) -> Result<String, FillError> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end, name) in placeholders(text) {
        let p = Placeholder::parse(name).ok_or_else(|| FillError::Unknown(clip(name), place))?;
        let value = secrets
            .value(p)
            .ok_or(FillError::Unavailable(p.name(), place))?;
        out.push_str(&text[last..start]);
        out.push_str(&value);
        last = end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

fn clip(name: &str) -> String {
    name.chars().take(40).collect()
}

fn has_placeholder(text: &str) -> bool {
    !placeholders(text).is_empty()
}

fn http_method(m: Method) -> http::Method {
    match m {
        Method::Get => http::Method::GET,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Patch => http::Method::PATCH,
        Method::Delete => http::Method::DELETE,
    }
}

/// Checks `req` against the connection's `token_url` and fills its placeholders.
pub fn fill_request(
    req: &HookRequest,
    token_url: &Url,
    secrets: &Secrets,
) -> Result<FilledRequest, FillError> {
    // The URL: no placeholder (it would be logged and shown), then the token URL's origin.
    if req.url.len() > MAX_URL {
        return Err(FillError::TooLarge {
            what: "the URL".into(),
            cap: MAX_URL,
        });
    }
    if let Some((_, _, name)) = placeholders(&req.url).first() {
        return Err(FillError::InUrl(clip(name)));
    }
    let url = Url::parse(&req.url).map_err(|e| FillError::BadUrl(e.to_string()))?;
    if url.origin() != token_url.origin() || !url.username().is_empty() || url.password().is_some()
    {
        return Err(FillError::WrongOrigin {
            found: url.origin().ascii_serialization(),
            expected: token_url.origin().ascii_serialization(),
        });
    }

    // Headers: names as given (checked), values filled.
    if req.headers.len() > MAX_HEADERS {
        return Err(FillError::TooMany {
            what: "headers",
            count: req.headers.len(),
            cap: MAX_HEADERS,
        });
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &req.headers {
        if name.len() > MAX_HEADER_NAME {
            return Err(FillError::TooLarge {
                what: "a header name".into(),
                cap: MAX_HEADER_NAME,
            });
        }
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| FillError::BadHeaderName(clip(name)))?;
        if RESERVED_HEADERS.contains(&header.as_str()) || header.as_str().starts_with("proxy-") {
            return Err(FillError::Reserved(header.as_str().to_string()));
        }
        if value.len() > MAX_HEADER_VALUE {
            return Err(FillError::TooLarge {
                what: format!("header `{header}`"),
                cap: MAX_HEADER_VALUE,
            });
        }
        let filled = fill_text(value, secrets, "a header")?;
        if filled.len() > MAX_HEADER_VALUE {
            return Err(FillError::TooLarge {
                what: format!("header `{header}`"),
                cap: MAX_HEADER_VALUE,
            });
        }
        let sensitive = has_placeholder(value);
        let mut v = HeaderValue::from_str(&filled)
            .map_err(|_| FillError::BadHeaderValue(header.as_str().to_string()))?;
        v.set_sensitive(sensitive);
        headers.append(header, v);
    }

    // Body.
    let body = match &req.body {
        HookBody::None => Vec::new(),
        HookBody::Form(fields) => {
            if fields.len() > MAX_FORM_FIELDS {
                return Err(FillError::TooMany {
                    what: "form fields",
                    count: fields.len(),
                    cap: MAX_FORM_FIELDS,
                });
            }
            check_body_size(fields.iter().map(|(k, v)| k.len() + v.len() + 2).sum())?;
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in fields {
                if has_placeholder(name) {
                    return Err(FillError::PlaceholderInFormName);
                }
                form.append_pair(name, &fill_text(value, secrets, "the form body")?);
            }
            set_default(&mut headers, "application/x-www-form-urlencoded");
            form.finish().into_bytes()
        }
        HookBody::Json(text) => {
            check_body_size(text.len())?;
            let mut value: Value = serde_json::from_str(text).map_err(|_| FillError::BadJson)?;
            fill_json(&mut value, secrets)?;
            set_default(&mut headers, "application/json");
            serde_json::to_vec(&value).map_err(|_| FillError::BadJson)?
        }
    };
    check_body_size(body.len())?;
    if !headers.contains_key(http::header::ACCEPT) {
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok(FilledRequest {
        method: http_method(req.method),
        url,
        headers,
        body,
    })
}

fn check_body_size(len: usize) -> Result<(), FillError> {
    if len > MAX_BODY {
        return Err(FillError::TooLarge {
            what: "the body".into(),
            cap: MAX_BODY,
        });
    }
    Ok(())
}

fn set_default(headers: &mut HeaderMap, content_type: &'static str) {
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
    }
}

fn fill_json(value: &mut Value, secrets: &Secrets) -> Result<(), FillError> {
    match value {
        Value::String(s) => {
            if has_placeholder(s) {
                *s = fill_text(s, secrets, "the JSON body")?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| fill_json(v, secrets)),
        Value::Object(map) => {
            if map.keys().any(|k| has_placeholder(k)) {
                return Err(FillError::PlaceholderInKey);
            }
            map.values_mut().try_for_each(|v| fill_json(v, secrets))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "fill_tests.rs"]
mod tests;
