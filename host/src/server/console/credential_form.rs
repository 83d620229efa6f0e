//! Setting, replacing and deleting one credential key's OAuth app credentials from the
//! console.
//!
//! Owns: the form (the client id as text, the client secret as a password field that is
//! never filled in), the checks of what is posted before the use case sees it (the use
//! case's own value rules, so the form can name its field), the re-shown
//! form that names the field at fault, and the delete button behind its confirmation page.
//! Must not: put the client secret into a page, a redirect or a log line, or change
//! anything on a post that fails the session, token or origin checks (`signed_form`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use secrecy::SecretString;

use super::actions::confirmation;
use super::credentials::{User, loaded_keys, state_badge, users};
use super::session::Signed;
use super::{SignedIn, failure, page, service_failure, signed_button, when};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::services::views::CredentialView;

use crate::services::credentials::{MAX_CLIENT_ID, MAX_CLIENT_SECRET, value_problem};

/// The stored credentials of `key`, if any.
fn stored(
    state: &AppState,
    key: &str,
) -> Result<Option<CredentialView>, crate::services::ServiceError> {
    Ok(state
        .services
        .list_credentials()?
        .into_iter()
        .find(|c| c.key == key))
}

/// What the page shows of a key today, then the form.
fn form(
    signed: &Signed,
    key: &str,
    named_by: &[User],
    stored: Option<&CredentialView>,
    client_id: &str,
    error: Option<&str>,
) -> Markup {
    html! {
        dl {
            dt { "Credential key" } dd { code { (key) } }
            dt { "Used by" } dd { (users(named_by)) }
            dt { "Credentials" } dd { (state_badge(stored)) }
            @if let Some(c) = stored {
                dt { "Client id" } dd { code { (c.client_id) } }
                dt { "Set at" } dd { (c.updated_at.map(when).unwrap_or_else(|| "-".into())) }
            }
        }
        @if let Some(error) = error { p class="error" { (error) } }
        form method="post" action={"/console/credentials/" (key)} {
            input type="hidden" name="csrf" value=(signed.csrf);
            label for="client_id" { "Client id" }
            input id="client_id" name="client_id" type="text" required autocomplete="off"
                maxlength=(MAX_CLIENT_ID) value=(client_id);
            label for="client_secret" { "Client secret" }
            input id="client_secret" name="client_secret" type="password"
                autocomplete="new-password" maxlength=(MAX_CLIENT_SECRET);
            label {
                input type="checkbox" name="public_client" value="on";
                " A public client: the provider gave it no client secret (leave the field empty)"
            }
            @if stored.is_some() {
                p class="hint" { "Saving replaces the stored client id and secret." }
            }
            div { button type="submit" { @if stored.is_some() { "Replace" } @else { "Save" } } }
        }
        p { a href="/console/credentials" { "Back to credentials" } }
    }
}

/// The key's page: what is stored, who names it, and the form (with `error`, what was
/// wrong with the last post, and its client id again; never its secret).
async fn key_page(
    state: &AppState,
    signed: &Signed,
    key: &str,
    client_id: &str,
    error: Option<&str>,
) -> Response {
    let named = match loaded_keys(state, signed).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let stored = match stored(state, key) {
        Ok(s) => s,
        Err(e) => return service_failure(signed, e),
    };
    let named_by = named.get(key).map_or(&[][..], Vec::as_slice);
    page(
        &format!("Credentials {key}"),
        Some(signed),
        form(signed, key, named_by, stored.as_ref(), client_id, error),
    )
}

/// `GET /console/credentials/{key}`.
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    SignedIn(signed): SignedIn,
    Path(key): Path<String>,
) -> Response {
    if let Err(e) = crate::store::credentials::validate_key(&key) {
        return failure(StatusCode::NOT_FOUND, Some(&signed), &e.to_string());
    }
    key_page(&state, &signed, &key, "", None).await
}

/// A posted field's problem (the use case's value rules), naming the field; never
/// quoting the value.
fn check(what: &str, value: &str, max: usize) -> Result<(), String> {
    match value_problem(value, max) {
        Some(problem) => Err(format!("The {what} {problem}.")),
        None => Ok(()),
    }
}

/// `POST /console/credentials/{key}`: checks the fields, then stores them through the
/// use case the admin API calls.
pub(super) async fn set(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: axum::body::Body,
) -> Response {
    let (signed, fields) = match super::signed_form(&state, &headers, body).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let field = |k: &str| fields.get(k).map(String::as_str).unwrap_or_default();
    let client_id = field("client_id").trim();
    let public = field("public_client") == "on";
    let secret_text = field("client_secret");
    let problem = check("client id", client_id, MAX_CLIENT_ID).and_then(|()| match public {
        false => check("client secret", secret_text, MAX_CLIENT_SECRET),
        true if secret_text.is_empty() => Ok(()),
        true => Err(
            "A public client has no client secret: leave the client secret empty, or untick \
             the public client box."
                .to_string(),
        ),
    });
    let refused = match problem {
        Err(message) => Some((StatusCode::BAD_REQUEST, message)),
        Ok(()) => {
            let secret = (!public).then(|| SecretString::from(secret_text.to_string()));
            match state
                .services
                .set_credentials(&key, client_id, secret.as_ref())
            {
                Ok(()) => None,
                Err(e) => {
                    let e = ApiError::from(e);
                    Some((e.status, e.message))
                }
            }
        }
    };
    match refused {
        None => Redirect::to("/console/credentials?done=stored").into_response(),
        Some((status, message)) => {
            let mut res = key_page(&state, &signed, &key, client_id, Some(&message)).await;
            if res.status().is_success() {
                *res.status_mut() = status;
            }
            res
        }
    }
}

/// `GET /console/credentials/{key}/confirm/delete`: the question, naming the connections
/// that use the key, and the button that deletes.
pub(super) async fn confirm_delete(
    State(state): State<Arc<AppState>>,
    SignedIn(signed): SignedIn,
    Path(key): Path<String>,
) -> Response {
    match stored(&state, &key) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return failure(
                StatusCode::NOT_FOUND,
                Some(&signed),
                &format!("No credentials are stored under `{key}`."),
            );
        }
        Err(e) => return service_failure(&signed, e),
    }
    let connections: Vec<String> = match state.services.list_connections() {
        Ok(list) => list
            .into_iter()
            .filter(|c| c.credential_key.as_deref() == Some(key.as_str()))
            .map(|c| c.name)
            .collect(),
        Err(e) => return service_failure(&signed, e),
    };
    let question = if connections.is_empty() {
        "Delete these credentials? No connection uses them.".to_string()
    } else {
        format!(
            "Delete these credentials? The connections {} use them: they cannot connect or \
             refresh their tokens until credentials are set again.",
            connections.join(", ")
        )
    };
    confirmation(
        &signed,
        &format!("Delete credentials {key}"),
        &question,
        &format!("/console/credentials/{key}/delete"),
        "Yes, delete",
        &format!("/console/credentials/{key}"),
    )
}

/// `POST /console/credentials/{key}/delete`.
pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: axum::body::Body,
) -> Response {
    let signed = match signed_button(&state, &headers, body).await {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match state.services.delete_credentials(&key) {
        Ok(()) => Redirect::to("/console/credentials?done=deleted").into_response(),
        Err(e) => service_failure(&signed, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_is_refused_by_name_without_its_value() {
        assert!(check("client id", "abc", 8).is_ok());
        let empty = check("client secret", "  ", 8).unwrap_err();
        assert!(empty.contains("client secret") && empty.contains("empty"));
        let long = check("client secret", "canary-long", 8).unwrap_err();
        assert!(long.contains("client secret") && long.contains("too long"));
        assert!(!long.contains("canary"));
        let control = check("client id", "a\nb", 8).unwrap_err();
        assert!(control.contains("client id") && control.contains("control"));
    }
}
