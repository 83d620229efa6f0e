//! The two profile reads, one per app connection: Google's OpenID userinfo with a token
//! the route reads (`google-oauth`, granted `token`), and Microsoft Graph's `/me` with a
//! token the host injects (`ms365-oauth`, granted `inject`).
//!
//! Owns the requests and reading the fields kept. Must not keep or log a token beyond
//! the one request header, must not retry (the host already refreshed and retried a 401
//! of an injected token), and leaves judging a failure to `failure.rs`.

use crate::connections;
use crate::failure::{self, Provider};
use keyway_sdk::api::Failure;
use keyway_sdk::{Http, HttpOptions, HttpResponse};
use serde_json::Value;

/// Google's OpenID Connect userinfo endpoint.
pub const GOOGLE_USERINFO_URL: &str = "https://openidconnect.googleapis.com/v1/userinfo";

/// Microsoft Graph's signed-in user.
pub const GRAPH_ME_URL: &str = "https://graph.microsoft.com/v1.0/me";

/// A token must stay valid this long after the host hands it out.
const MIN_TOKEN_TTL_SECONDS: u32 = 60;

/// What is kept of one provider's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

fn text(v: &Value, field: &str) -> Option<String> {
    v[field]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The answer's JSON, or the failure that says the provider's 2xx was not it.
fn body(provider: Provider, res: &HttpResponse, action: &str) -> Result<Value, Failure> {
    if !res.ok() {
        return Err(failure::provider_failure(provider, res, action));
    }
    res.json()
        .map_err(|e| failure::malformed(provider, action, &e.message))
}

/// The Google account of `google-oauth`. The route reads the token (granted `token`)
/// and sends it in its own `Authorization` header; the host still knows the token and
/// scrubs it from anything that comes back.
pub fn google() -> Result<Profile, Failure> {
    let action = "reading the account's OpenID userinfo";
    let token = connections::GOOGLE_OAUTH.access_token(MIN_TOKEN_TTL_SECONDS)?;
    let kind = token.token_type.as_deref().unwrap_or("Bearer");
    // `token_type` is case-insensitive; Google's APIs expect `Bearer`.
    let scheme = if kind.eq_ignore_ascii_case("bearer") {
        "Bearer"
    } else {
        kind
    };
    let res = Http::get(
        GOOGLE_USERINFO_URL,
        HttpOptions::default()
            .header("Authorization", format!("{scheme} {}", token.access_token))
            .header("Accept", "application/json"),
    )?;
    let info = body(Provider::Google, &res, action)?;
    let Some(id) = text(&info, "sub") else {
        return Err(failure::malformed(
            Provider::Google,
            action,
            "sub is missing",
        ));
    };
    Ok(Profile {
        id,
        email: text(&info, "email"),
        name: text(&info, "name"),
    })
}

/// The Microsoft 365 user of `ms365-oauth`. The host injects the token (granted
/// `inject`, `connection.appInject` admits the URL); the route never sees it.
pub fn microsoft() -> Result<Profile, Failure> {
    let action = "reading the signed-in user from Microsoft Graph";
    let res = Http::get(
        GRAPH_ME_URL,
        HttpOptions::default()
            .auth(connections::MS365_OAUTH.auth(MIN_TOKEN_TTL_SECONDS))
            .header("Accept", "application/json"),
    )?;
    let me = body(Provider::Microsoft, &res, action)?;
    let Some(id) = text(&me, "id") else {
        return Err(failure::malformed(
            Provider::Microsoft,
            action,
            "id is missing",
        ));
    };
    Ok(Profile {
        id,
        // `mail` is null for an account without a mailbox; its sign-in name is an address.
        email: text(&me, "mail").or_else(|| text(&me, "userPrincipalName")),
        name: text(&me, "displayName"),
    })
}
