//! Connect links over HTTP: `POST /v1/connect-sessions` (admin) makes one; `/connect/{token}`
//! is the page whoever owns the provider account opens: it shows only the start of one
//! connection's consent, and its button sends the browser to the provider and back.
//!
//! Owns: the page, its policy (framed only by the link's allowed origins, no script),
//! and the checks on its button (the page's own origin or an allowed one; the link used
//! once). Must not: show anything of the connection but its name and connector, or log a
//! token (the request log records the path's shape only, see the router).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::body::Json as JsonBody;
use super::error::ApiError;
use crate::services::{AuthorizationStart, ConnectLink, Expected};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateLink {
    connection: String,
    expires_in_seconds: Option<u64>,
    #[serde(default)]
    allowed_origins: Vec<String>,
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<CreateLink>,
) -> Result<Response, ApiError> {
    let link = state
        .services
        .create_connect_link(
            &body.connection,
            body.expires_in_seconds,
            &body.allowed_origins,
        )
        .await?;
    let url = state
        .public_url
        .join(&format!("connect/{}", link.token.expose_secret()))
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("building the link from the public URL: {e}"),
            )
        })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "url": url.as_str(), "expiresAt": link.expires_at })),
    )
        .into_response())
}

fn frame(title: &str, body: Markup, link: Option<&ConnectLink>, status: StatusCode) -> Response {
    frame_with(title, body, link, status, None)
}

/// A page that sends the browser on to `to` (the provider): a refresh, not a redirect of
/// the form's post, so the page's `form-action 'self'` stays as strict as it is.
fn onward(link: &ConnectLink, to: &url::Url) -> Response {
    frame_with(
        "Continuing…",
        html! { p { "Taking you to " (link.connector_name) ". " a href=(to.as_str()) { "Continue" } } },
        Some(link),
        StatusCode::OK,
        Some(to),
    )
}

fn frame_with(
    title: &str,
    body: Markup,
    link: Option<&ConnectLink>,
    status: StatusCode,
    refresh: Option<&url::Url>,
) -> Response {
    let ancestors = match link {
        Some(l) if !l.allowed_origins.is_empty() => l.allowed_origins.join(" "),
        _ => "'none'".into(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; form-action 'self'; \
         frame-ancestors {ancestors}; base-uri 'none'"
    );
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                @if let Some(to) = refresh { meta http-equiv="refresh" content={"0;url=" (to.as_str())}; }
                title { (title) }
                link rel="stylesheet" href="/console/console.css";
            }
            body { main { h1 { (title) } (body) } }
        }
    };
    let mut res = (status, markup.into_string()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn gone() -> Response {
    frame(
        "This link cannot be used",
        html! { p { "It has expired, has been used already, or was never valid. Ask for a new one." } },
        None,
        StatusCode::GONE,
    )
}

async fn live(state: &AppState, token: &str) -> Option<ConnectLink> {
    let link = state.services.connect_link(token).await.ok().flatten()?;
    (!link.used && link.expires_at > crate::store::now_unix()).then_some(link)
}

pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Response {
    let Some(link) = live(&state, &token).await else {
        return gone();
    };
    frame(
        &format!("Connect {}", link.connector_name),
        html! {
            p { "You are asked to connect your " (link.connector_name) " account to the connection "
                strong { (link.connection) } "." }
            p { "The button takes you to " (link.connector_name) " to sign in and approve; Keyway keeps the access it grants." }
            form method="post" action={"/connect/" (token)} { button type="submit" { "Continue to " (link.connector_name) } }
        },
        Some(&link),
        StatusCode::OK,
    )
}

/// Whether the button was pressed on the link's own page or an allowed origin.
fn origin_allowed(headers: &HeaderMap, state: &AppState, link: &ConnectLink) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    origin == state.public_url.origin().ascii_serialization()
        || origin == format!("http://{host}")
        || origin == format!("https://{host}")
        || link.allowed_origins.iter().any(|o| o == origin)
}

pub(crate) async fn start(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let Some(link) = live(&state, &token).await else {
        return gone();
    };
    if !origin_allowed(&headers, &state, &link) {
        return frame(
            "Refused",
            html! { p { "This link was used from a site it is not allowed on." } },
            Some(&link),
            StatusCode::FORBIDDEN,
        );
    }
    let connection = match state.services.use_connect_link(&token) {
        Ok(Some(c)) => c,
        Ok(None) => return gone(),
        Err(e) => return failed(&link, e.into()),
    };
    let redirect = match state.redirect_uri() {
        Ok(r) => r,
        Err(e) => return failed(&link, e),
    };
    match state
        .services
        .begin_target_authorization(Expected::Connection(&connection), &redirect, None)
        .await
    {
        Ok(AuthorizationStart::Redirect(request)) => {
            state.remember_return(&request.url, &format!("/connect/{token}/done"));
            onward(&link, &request.url)
        }
        Ok(AuthorizationStart::Connected(_)) => {
            Redirect::to(&format!("/connect/{token}/done")).into_response()
        }
        Err(e) => failed(&link, e.into()),
    }
}

fn failed(link: &ConnectLink, e: ApiError) -> Response {
    frame(
        "Something went wrong",
        html! { p class="error" { (e.message) } },
        Some(link),
        e.status,
    )
}

pub(crate) async fn done(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Response {
    match state.services.connect_link(&token).await {
        Ok(Some(link)) if link.used => frame(
            "Connected",
            html! { p { "Your " (link.connector_name) " account is connected. You can close this tab." } },
            Some(&link),
            StatusCode::OK,
        ),
        _ => gone(),
    }
}
