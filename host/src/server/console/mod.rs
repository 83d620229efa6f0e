//! The operator console at `/console`: server-rendered pages over the same use cases as
//! the admin API, behind a login with the admin key.
//!
//! Owns: the console's router, its page frame, the security headers of every console
//! answer (a strict Content-Security-Policy with no script at all, no framing, no
//! caching, and no referrer to another origin: `same-origin`, since a browser sends
//! `Origin: null` on a form post under `no-referrer`), the login and logout, and the checks in front of every page
//! (a live session) and every form (the session's CSRF token and the console's own
//! origin). Pages are `pages.rs`, the create form `form.rs`, the buttons `actions.rs`, the
//! activity chart `chart.rs`, the OAuth app
//! credentials `credentials.rs` (the list) and `credential_form.rs` (set and delete).
//! Must not: render a secret (secret settings and client secrets show as "set"), put a
//! value from outside into a page unescaped (maud escapes every interpolation), or log a
//! key or a session.

mod actions;
mod chart;
mod credential_form;
mod credentials;
mod form;
mod pages;
pub(crate) mod session;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use secrecy::ExposeSecret;

use super::AppState;
use super::error::ApiError;
use session::Signed;

/// Every console answer's policy: the console's own stylesheet, forms that post to the
/// console, nothing else (no script, no frame, no plugin, no other origin).
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("console.css");

pub(super) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/connections") }),
        )
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/console.css", get(stylesheet))
        .route("/console/connectors", get(pages::connectors))
        .route(
            "/console/connections",
            get(pages::connections).post(form::create),
        )
        .route("/console/connections/new", get(form::new_connection))
        .route("/console/connections/{name}", get(pages::connection))
        .route(
            "/console/connections/{name}/confirm/{action}",
            get(actions::confirm),
        )
        .route(
            "/console/connections/{name}/streams/{key}/run",
            post(actions::run_stream),
        )
        .route("/console/connections/{name}/{action}", post(actions::act))
        .route("/console/credentials", get(credentials::list))
        .route(
            "/console/credentials/{key}",
            get(credential_form::show).post(credential_form::set),
        )
        .route(
            "/console/credentials/{key}/confirm/delete",
            get(credential_form::confirm_delete),
        )
        .route(
            "/console/credentials/{key}/delete",
            post(credential_form::delete),
        )
        .layer(axum::middleware::from_fn(headers))
}

/// The security headers of every console answer.
async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

/// A whole page: the frame, the navigation (with the logout form when signed in), then
/// `body`.
fn page(title: &str, signed: Option<&Signed>, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Keyway" }
                link rel="stylesheet" href="/console/console.css";
            }
            body {
                header {
                    strong { "Keyway" }
                    @if let Some(signed) = signed {
                        nav {
                            a href="/console/connections" { "Connections" }
                            a href="/console/connectors" { "Connectors" }
                            a href="/console/credentials" { "Credentials" }
                            form method="post" action="/console/logout" class="inline" {
                                input type="hidden" name="csrf" value=(signed.csrf);
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// A page that sends the browser on to `to` (the provider). A refresh, not a redirect of
/// the form's post: the console's `form-action 'self'` would (rightly) stop a form post
/// redirected to another origin.
fn onward(to: &url::Url) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content={"0;url=" (to.as_str())};
                title { "Continuing to the provider · Keyway" }
                link rel="stylesheet" href="/console/console.css";
            }
            body { main {
                p { "Taking you to the provider to approve the connection. " a href=(to.as_str()) { "Continue" } }
            } }
        }
    };
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// A page that says what went wrong, with the status it deserves.
fn failure(status: StatusCode, signed: Option<&Signed>, message: &str) -> Response {
    let mut res = page(
        "Something went wrong",
        signed,
        html! { p class="error" { (message) } p { a href="/console/connections" { "Back to connections" } } },
    );
    *res.status_mut() = status;
    res
}

/// A console form's fields, read like every other body: within the body read timeout and
/// [`FORM_CAP`] (a slow or huge post is cut off, 408 or 413), then decoded. A name sent
/// twice keeps its last value.
async fn form_fields(
    state: &AppState,
    body: axum::body::Body,
) -> Result<BTreeMap<String, String>, Box<Response>> {
    let bytes = super::body::read(state, body, FORM_CAP)
        .await
        .map_err(|e| Box::new(failure(e.status, None, &e.message)))?;
    Ok(url::form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// The largest console form: a name, a connector and its settings.
const FORM_CAP: usize = 64 << 10;

/// A console page's session, taken as a handler argument: a request without a live
/// session is sent to the login page before the handler runs.
struct SignedIn(Signed);

impl axum::extract::FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        signed(state, &parts.headers).map(SignedIn).map_err(|r| *r)
    }
}

/// The session of a request, or the way to the login page.
fn signed(state: &AppState, headers: &HeaderMap) -> Result<Signed, Box<Response>> {
    session::find(&state.services, headers)
        .ok_or_else(|| Box::new(Redirect::to("/console/login").into_response()))
}

/// A form post's fields and its session, checked: a live session and the console's own
/// origin from the headers, before the body is read (a post from nobody or from another
/// site is refused without reading it), then the session's CSRF token among the fields.
/// A post that fails is refused (to the login page, or 403) and does nothing; an absent
/// token is refused like a wrong one.
async fn signed_form(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<(Signed, BTreeMap<String, String>), Box<Response>> {
    let signed = signed(state, headers).map_err(|res| closing(*res))?;
    if !session::same_origin(headers, &state.public_url) {
        return Err(closing(failure(
            StatusCode::FORBIDDEN,
            Some(&signed),
            "This form was sent from another site; it was refused.",
        )));
    }
    let form = form_fields(state, body).await?;
    let csrf = form.get("csrf").map(String::as_str).unwrap_or_default();
    if !session::csrf_matches(&signed, csrf) {
        return Err(Box::new(failure(
            StatusCode::FORBIDDEN,
            Some(&signed),
            "This form's token is missing or out of date; reload the page and try again.",
        )));
    }
    Ok((signed, form))
}

/// A refusal sent before the request's body was read: the connection is closed after it
/// (`Connection: close`), so the client does not send its next request down a connection
/// whose unread body the server will not wait for.
fn closing(mut res: Response) -> Box<Response> {
    res.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    Box::new(res)
}

/// A use case's failure as a console page (its message never holds a secret).
fn service_failure(signed: &Signed, e: impl Into<ApiError>) -> Response {
    let e: ApiError = e.into();
    failure(e.status, Some(signed), &e.message)
}

fn login_form(error: Option<&str>) -> Response {
    let mut res = page(
        "Log in",
        None,
        html! {
            @if let Some(error) = error { p class="error" { (error) } }
            form method="post" action="/console/login" {
                label for="key" { "Admin key" }
                input id="key" name="key" type="password" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
            p class="hint" { "The admin key is in the data directory's admin.key, or KEYWAY_ADMIN_KEY." }
        },
    );
    if error.is_some() {
        *res.status_mut() = StatusCode::UNAUTHORIZED;
    }
    res
}

async fn login_page() -> Response {
    login_form(None)
}

async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if !session::same_origin(&headers, &state.public_url) {
        return failure(
            StatusCode::FORBIDDEN,
            None,
            "Log in from the console's own page.",
        );
    }
    let form = match form_fields(&state, body).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let key = form.get("key").map(String::as_str).unwrap_or_default();
    if !state.admin.matches(key.trim()) {
        tracing::warn!("console login refused: wrong admin key");
        return login_form(Some("That is not the admin key."));
    }
    let id = match session::open(&state.services) {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "a console sign-in could not be stored");
            return failure(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "Signing in failed: the store could not be written. Try again shortly.",
            );
        }
    };
    let mut res = Redirect::to("/console/connections").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(Some(id.expose_secret()), &state.public_url),
    );
    res
}

/// The session of a form post whose only field is its CSRF token (a button).
async fn signed_button(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Signed, Box<Response>> {
    Ok(signed_form(state, headers, body).await?.0)
}

async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if let Err(refused) = signed_button(&state, &headers, body).await {
        return *refused;
    }
    session::close(&state.services, &headers);
    let mut res = Redirect::to("/console/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(None, &state.public_url),
    );
    res
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
fn when(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "-".into())
}
