//! `connection.api`: the provider's API as routes address it. A base URL template that
//! relative requests are resolved against, headers every API request carries, and the
//! credential the host injects into them.
//!
//! Owns the validated [`ApiSpec`] and its checks:
//! - the base URL is a template with declared placeholders, https (or loopback http), with
//!   no query or fragment;
//! - once filled with sample values it passes `permissions.http`;
//! - default headers are plain, and none carries a credential or framing;
//! - the default credential is one the manifest can inject.
//!
//! Must not: expand with real settings (the registry binds a connection's), or resolve a
//! route's path (the `http` door does, through `egress::resolve_api_path`).

use std::collections::BTreeMap;

use http::header::{self, HeaderName, HeaderValue};

use super::connector::Permissions;
use super::inject::TemplateEnv;
use super::problems::{Pointer, Problems};
use super::raw::{RawApi, RawApiAuth};
use super::template::UrlTemplate;

/// Most default headers an API may declare.
const MAX_HEADERS: usize = 32;

/// The credential injected into every API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiAuth {
    None,
    /// The connection's OAuth access token.
    OAuth,
    /// The secret setting of this name.
    Secret(String),
}

/// A validated `connection.api`.
#[derive(Debug, Clone)]
pub struct ApiSpec {
    pub base_url: UrlTemplate,
    /// Lowercase names, in name order.
    pub headers: Vec<(String, String)>,
    pub auth: ApiAuth,
}

/// Validates `raw` at `at`; `None` when it has a problem (each one is in `p`).
pub(crate) fn api(
    raw: &RawApi,
    at: &Pointer,
    env: &TemplateEnv<'_>,
    permissions: &Permissions,
    has_oauth: bool,
    p: &mut Problems,
) -> Option<ApiSpec> {
    let before = p.len();
    let base_at = at.at("baseUrl");
    let base_url = env.parse(&raw.base_url, "connection.api.baseUrl", &base_at, p);
    if let Some(template) = &base_url {
        let sample = template.render(
            |name, slot| Ok::<_, String>(env.sample(name, slot)),
            |reason| reason,
        );
        match sample {
            Err(reason) => p.push(&base_at, format!("the base URL {reason}")),
            Ok(url) if url.query().is_some() => p.push(
                &base_at,
                "the base URL must not have a query: routes add theirs to each request",
            ),
            Ok(url) if !permissions.allows_url(&url) => p.push(
                &base_at,
                format!(
                    "the base URL (as {url}) is not allowed by permissions.http; add a \
                     pattern covering it"
                ),
            ),
            Ok(_) => {}
        }
    }
    let headers = headers(&raw.headers, &at.at("headers"), p);
    let auth_at = at.at("auth");
    let auth = match raw.auth.clone().unwrap_or(RawApiAuth::None) {
        RawApiAuth::None => ApiAuth::None,
        RawApiAuth::Oauth => {
            if !has_oauth {
                p.push(
                    &auth_at,
                    "\"oauth\" needs connection.oauth (and a connection.oauth.inject rule \
                     admitting the base URL)",
                );
            }
            ApiAuth::OAuth
        }
        RawApiAuth::Secret(name) => {
            if !permissions.injectable_secrets.contains(&name) {
                p.push(
                    auth_at.at("secret"),
                    format!(
                        "\"{name}\" must be an x-secret setting granted \
                         permissions.secrets.{name}: [\"inject\"]"
                    ),
                );
            }
            ApiAuth::Secret(name)
        }
    };
    match base_url {
        Some(base_url) if p.len() == before => Some(ApiSpec {
            base_url,
            headers,
            auth,
        }),
        _ => None,
    }
}

fn headers(
    raw: &BTreeMap<String, String>,
    at: &Pointer,
    p: &mut Problems,
) -> Vec<(String, String)> {
    if raw.len() > MAX_HEADERS {
        p.push(at, format!("at most {MAX_HEADERS} default headers"));
    }
    let mut out = Vec::new();
    for (name, value) in raw {
        let h_at = at.at(name.as_str());
        let Ok(parsed) = HeaderName::from_bytes(name.as_bytes()) else {
            p.push(&h_at, format!("\"{name}\" is not a valid HTTP header name"));
            continue;
        };
        let credential = [
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::COOKIE,
        ]
        .contains(&parsed);
        if credential
            || crate::egress::is_host_controlled(&parsed)
            || parsed.as_str().starts_with("x-keyway-")
        {
            p.push(
                &h_at,
                format!(
                    "header \"{parsed}\" carries a credential or is set by the host; \
                     credentials come from connection.api.auth"
                ),
            );
            continue;
        }
        if HeaderValue::from_str(value).is_err() || value.chars().any(char::is_control) {
            p.push(&h_at, "the value must be visible ASCII text");
            continue;
        }
        out.push((parsed.as_str().to_owned(), value.clone()));
    }
    out
}
