//! The sandbox's authorization server: the approval page, the decision, the token
//! endpoint (authorization code with PKCE, rotating refresh tokens) and revocation.
//!
//! Must not: accept a redirect URI off loopback, a code twice, a refresh token twice, or
//! an exchange without the PKCE verifier that matches the challenge.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Form;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use url::Url;

use super::page::{approval_page, error_page};
use super::{ACCESS_TOKEN_TTL, CLIENT_ID, CODE_TTL, Issued, Pending, SandboxState};
use crate::oauth::authorize::random_state;

type Params = HashMap<String, String>;

fn loopback_redirect(uri: &str) -> Option<Url> {
    let url = Url::parse(uri).ok()?;
    let loopback = match url.host()? {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    (loopback && url.scheme() == "http").then_some(url)
}

fn redirect_with(mut url: Url, pairs: &[(&str, &str)]) -> Response {
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

/// `GET /oauth/authorize`: checks the request and shows the approval page.
pub(crate) async fn authorize_page(
    State(state): State<Arc<SandboxState>>,
    Query(p): Query<Params>,
) -> Response {
    let get = |k: &str| p.get(k).map(String::as_str);
    if get("client_id") != Some(CLIENT_ID) {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("unknown client_id; the sandbox's client is `{CLIENT_ID}`"),
        );
    }
    let Some(redirect) = get("redirect_uri").and_then(loopback_redirect) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri must be an http URL on loopback (localhost, 127.0.0.1 or [::1])",
        );
    };
    let state_param = get("state").map(str::to_string);
    let fail = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(s) = state_param.as_deref() {
            pairs.push(("state", s));
        }
        redirect_with(redirect.clone(), &pairs)
    };
    if get("response_type") != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    let Some(challenge) = get("code_challenge") else {
        return fail("invalid_request", "PKCE is required: send code_challenge");
    };
    if get("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    let scope = get("scope").unwrap_or("").to_string();
    let request_id = random_state();
    state.grants().requests.insert(
        request_id.clone(),
        Pending {
            redirect_uri: redirect.to_string(),
            state: state_param.clone(),
            code_challenge: challenge.to_string(),
            scope: scope.clone(),
            expires_at: Instant::now() + CODE_TTL,
        },
    );
    Html(approval_page(&request_id, &scope, redirect.as_str())).into_response()
}

/// `POST /oauth/authorize/decision`: the user's Approve or Deny.
pub async fn decision(State(state): State<Arc<SandboxState>>, Form(p): Form<Params>) -> Response {
    let Some(pending) = p
        .get("request")
        .and_then(|id| state.grants().requests.remove(id))
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "this approval was already answered or is unknown; start again from Keyway",
        );
    };
    let Some(redirect) = loopback_redirect(&pending.redirect_uri) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "the stored redirect URI is invalid",
        );
    };
    if pending.expires_at < Instant::now() {
        return error_page(
            StatusCode::BAD_REQUEST,
            "this approval expired; start again",
        );
    }
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if p.get("decision").map(String::as_str) == Some("approve") {
        let code = random_state();
        state.grants().codes.insert(
            code.clone(),
            Pending {
                expires_at: Instant::now() + CODE_TTL,
                ..pending.clone()
            },
        );
        pairs.push(("code", code));
    } else {
        pairs.push(("error", "access_denied".into()));
        pairs.push(("error_description", "the user denied access".into()));
    }
    if let Some(s) = &pending.state {
        pairs.push(("state", s.clone()));
    }
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    redirect_with(redirect, &borrowed)
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// Client authentication from HTTP Basic or the form body.
fn client_of(headers: &HeaderMap, p: &Params) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = STANDARD.decode(basic.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        let id = percent_encoding::percent_decode_str(id)
            .decode_utf8()
            .ok()?;
        let secret = percent_encoding::percent_decode_str(secret)
            .decode_utf8()
            .ok()?;
        return Some((id.into_owned(), secret.into_owned()));
    }
    Some((p.get("client_id")?.clone(), p.get("client_secret")?.clone()))
}

fn issue(state: &SandboxState, scope: &str) -> Response {
    let access = format!("sbx_at_{}", random_state());
    let refresh = format!("sbx_rt_{}", random_state());
    let mut grants = state.grants();
    grants.access.insert(
        access.clone(),
        Issued {
            scope: scope.to_string(),
            expires_at: Instant::now() + ACCESS_TOKEN_TTL,
        },
    );
    grants.refresh.insert(refresh.clone(), scope.to_string());
    drop(grants);
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL.as_secs(),
            "refresh_token": refresh,
            "scope": scope,
        })),
    )
        .into_response()
}

/// `POST /oauth/token`.
pub async fn token(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Form(p): Form<Params>,
) -> Response {
    let Some((id, secret)) = client_of(&headers, &p) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication is required",
        );
    };
    if !state.client_ok(&id, &secret) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = p.get("code").map(String::as_str).unwrap_or("");
            let Some(pending) = state.grants().codes.remove(code) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the code is unknown or was already used",
                );
            };
            if pending.expires_at < Instant::now() {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the code expired");
            }
            if p.get("redirect_uri") != Some(&pending.redirect_uri) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "redirect_uri does not match the authorization request",
                );
            }
            let verifier = p.get("code_verifier").map(String::as_str).unwrap_or("");
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if computed != pending.code_challenge {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the PKCE code_verifier does not match the code_challenge",
                );
            }
            issue(&state, &pending.scope)
        }
        Some("refresh_token") => {
            let presented = p.get("refresh_token").map(String::as_str).unwrap_or("");
            let Some(scope) = state.grants().refresh.remove(presented) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the refresh token is unknown, revoked or was already rotated",
                );
            };
            issue(&state, &scope)
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ),
    }
}

/// `POST /oauth/revoke` (RFC 7009): forgets the token; unknown tokens are fine too.
pub async fn revoke(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Form(p): Form<Params>,
) -> Response {
    match client_of(&headers, &p) {
        Some((id, secret)) if state.client_ok(&id, &secret) => {}
        _ => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client or wrong secret",
            );
        }
    }
    if let Some(token) = p.get("token") {
        let mut grants = state.grants();
        grants.access.remove(token);
        grants.refresh.remove(token);
    }
    StatusCode::OK.into_response()
}

impl SandboxState {
    /// The scope of a live access token from an `Authorization: Bearer` header.
    pub(super) fn bearer_scope(&self, headers: &HeaderMap) -> Option<String> {
        let token = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        let grants = self.grants();
        let issued = grants.access.get(token)?;
        (issued.expires_at > Instant::now()).then(|| issued.scope.clone())
    }
}
