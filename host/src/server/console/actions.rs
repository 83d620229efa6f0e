//! The console's buttons on a connection: Connect (or Re-authorize), Test, Revoke and
//! Delete (both after a confirmation page), and Run now on a stream.
//!
//! Owns: what each button does and where the browser goes next, and the confirmation
//! page a destructive button sits behind (`confirmation`, which the credentials' Delete
//! uses too). Connect sends the browser to the provider and remembers (in the store) to
//! bring it back to the connection's page. Must not: act on a post that fails the
//! session, token or origin checks (`signed_form`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::session::Signed;
use super::{SignedIn, failure, page, service_failure, signed_button};
use crate::server::AppState;
use crate::services::views::AuthorizedView;
use crate::services::{AuthorizationStart, Expected, Trigger};

fn back(name: &str, done: &str) -> Response {
    Redirect::to(&format!("/console/connections/{name}?done={done}")).into_response()
}

/// `GET .../confirm/{revoke|delete}`: the question, and the button that does it.
pub(super) async fn confirm(
    SignedIn(signed): SignedIn,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    let question = match action.as_str() {
        "revoke" => {
            "Revoke this connection? Its tokens are revoked at the provider and deleted here; it must be connected again to work."
        }
        "delete" => {
            "Delete this connection? Its tokens, settings, records and history are deleted for good."
        }
        _ => return failure(StatusCode::NOT_FOUND, Some(&signed), "No such action."),
    };
    let title = if action == "revoke" {
        "Revoke"
    } else {
        "Delete"
    };
    confirmation(
        &signed,
        &format!("{title} {name}"),
        question,
        &format!("/console/connections/{name}/{action}"),
        &format!("Yes, {action}"),
        &format!("/console/connections/{name}"),
    )
}

/// A confirmation page: the question, a button that posts the session's token to
/// `action`, and the way back to `back` that does nothing.
pub(super) fn confirmation(
    signed: &Signed,
    title: &str,
    question: &str,
    action: &str,
    yes: &str,
    back: &str,
) -> Response {
    page(
        title,
        Some(signed),
        html! {
            p { (question) }
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(signed.csrf);
                button type="submit" class="danger" { (yes) }
            }
            p { a href=(back) { "No, go back" } }
        },
    )
}

/// `POST .../{authorize|test|revoke|delete}`.
pub(super) async fn act(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
    body: axum::body::Body,
) -> Response {
    let signed = match signed_button(&state, &headers, body).await {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match action.as_str() {
        "authorize" => {
            let redirect = match state.redirect_uri() {
                Ok(r) => r,
                Err(e) => return service_failure(&signed, e),
            };
            let started = state
                .services
                .begin_target_authorization(Expected::Connection(&name), &redirect, None)
                .await;
            match started {
                Ok(AuthorizationStart::Redirect(request)) => {
                    state.remember_return(
                        &request.url,
                        &format!("/console/connections/{name}?done=connected"),
                    );
                    super::onward(&request.url)
                }
                Ok(AuthorizationStart::Connected(outcome)) => {
                    let mut answer = AuthorizedView::new(&name, &outcome);
                    if let Err(e) = state.post_connect(&mut answer).await {
                        return service_failure(&signed, e);
                    }
                    back(&name, "connected")
                }
                Err(e) => service_failure(&signed, e),
            }
        }
        "test" => {
            let services = state.services.clone();
            let n = name.clone();
            let tested = match state
                .on_guests(async move { services.test_connection(&n).await })
                .await
            {
                Ok(t) => t,
                Err(e) => return service_failure(&signed, e),
            };
            match tested {
                Ok(view) => page(
                    &format!("Test of {name}"),
                    Some(&signed),
                    html! {
                        p class=(if view.ok { "notice" } else { "error" }) {
                            @if view.ok { "The connection works" } @else { "The test failed" }
                            " (status " (view.status) ")."
                        }
                        pre { (serde_json::to_string_pretty(&view.body).unwrap_or_default()) }
                        p { a href={"/console/connections/" (name)} { "Back to the connection" } }
                    },
                ),
                Err(e) => service_failure(&signed, e),
            }
        }
        "revoke" => match state.services.revoke(&name).await {
            Ok(_) => back(&name, "revoked"),
            Err(e) => service_failure(&signed, e),
        },
        "delete" => match state.services.delete_connection(&name) {
            Ok(()) => Redirect::to("/console/connections").into_response(),
            Err(e) => service_failure(&signed, e),
        },
        _ => failure(StatusCode::NOT_FOUND, Some(&signed), "No such action."),
    }
}

/// `POST .../streams/{key}/run`: starts a run on the guests' runtime and goes back.
pub(super) async fn run_stream(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((name, key)): Path<(String, String)>,
    body: axum::body::Body,
) -> Response {
    let signed = match signed_button(&state, &headers, body).await {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let services = state.services.clone();
    let n = name.clone();
    let started = state
        .guests
        .spawn(async move {
            services
                .start_stream_run(&n, &key, Trigger::Manual)
                .await
                .map(|_| ())
        })
        .await;
    match started {
        Ok(Ok(())) => back(&name, "run"),
        Ok(Err(e)) => service_failure(&signed, e),
        Err(e) => failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(&signed),
            &format!("starting the run stopped: {e}"),
        ),
    }
}
