//! Creating a connection from the console: a form generated from the connector's
//! `settingsSchema` (of the chosen auth option), and its post.
//!
//! Owns: the form: a field per setting, labelled with its `title`, hinted with its
//! `x-placeholder`, a password field for an `x-secret` setting, `required` where the
//! schema requires it; a re-shown form keeps what was typed except secrets. Must not:
//! echo a secret into a page, or accept a setting the form did not offer (the use case
//! validates every value against the schema).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use secrecy::SecretString;
use serde::Deserialize;

use super::session::Signed;
use super::{SignedIn, page, service_failure};
use crate::catalog::Lookup;
use crate::manifest::{AuthOption, Connector};
use crate::server::AppState;
use crate::services::{NewConnectionInput, PlainValue, SettingsInput};

/// Settings arrive as `setting.<name>` fields.
const SETTING: &str = "setting.";

#[derive(Deserialize)]
pub(super) struct NewQuery {
    connector: String,
    option: Option<String>,
}

pub(super) async fn new_connection(
    State(state): State<Arc<AppState>>,
    SignedIn(signed): SignedIn,
    Query(q): Query<NewQuery>,
) -> Response {
    let loaded = match state
        .services
        .connector(&q.connector, Lookup::KeyOnly)
        .await
    {
        Ok(l) => l,
        Err(e) => return service_failure(&signed, e),
    };
    let c = loaded.connector();
    if c.has_auth_options() && q.option.is_none() {
        return page(
            &format!("New {} connection", c.name()),
            Some(&signed),
            choose_option(c),
        );
    }
    match c.auth(q.option.as_deref()) {
        Ok(auth) => page(
            &format!("New {} connection", c.name()),
            Some(&signed),
            form(&signed, c, auth, &BTreeMap::new(), None),
        ),
        Err(e) => super::failure(StatusCode::BAD_REQUEST, Some(&signed), &e.to_string()),
    }
}

fn choose_option(c: &Connector) -> Markup {
    html! {
        p { "How will this connection authenticate?" }
        ul {
            @for o in c.auth_options() {
                @if let Some(name) = &o.name {
                    li {
                        a href={"/console/connections/new?connector=" (c.key()) "&option=" (name)} {
                            (o.title.as_deref().unwrap_or(name))
                        }
                        @if let Some(help) = &o.help_url { " (" a href=(help.as_str()) rel="noreferrer" { "how to get one" } ")" }
                    }
                }
            }
        }
    }
}

fn form(
    signed: &Signed,
    c: &Connector,
    auth: &AuthOption,
    typed: &BTreeMap<String, String>,
    error: Option<&str>,
) -> Markup {
    let schema = &auth.settings_schema;
    html! {
        @if let Some(error) = error { p class="error" { (error) } }
        form method="post" action="/console/connections" {
            input type="hidden" name="csrf" value=(signed.csrf);
            input type="hidden" name="connector" value=(c.key());
            @if let Some(option) = &auth.name { input type="hidden" name="option" value=(option); }
            label for="name" { "Connection name" }
            input id="name" name="name" type="text" required
                placeholder="lowercase letters, digits and hyphens" value=(typed.get("name").map_or("", String::as_str));
            @for (name, info) in schema.properties() {
                @let id = format!("{SETTING}{name}");
                label for=(id) { (info.title.as_deref().unwrap_or(name)) @if info.secret { " (secret)" } }
                @if info.secret {
                    input id=(id) name=(id) type="password" autocomplete="off"
                        placeholder=(info.placeholder.as_deref().unwrap_or(""))
                        required[schema.required().contains(name)];
                } @else {
                    input id=(id) name=(id) type="text"
                        placeholder=(info.placeholder.as_deref().unwrap_or(""))
                        value=(typed.get(&id).map_or("", String::as_str))
                        required[schema.required().contains(name)];
                }
            }
            div { button type="submit" { "Create" } }
        }
    }
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let (signed, fields) = match super::signed_form(&state, &headers, body).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let field = |k: &str| fields.get(k).map(String::as_str).unwrap_or_default();
    let loaded = match state
        .services
        .connector(field("connector"), Lookup::KeyOnly)
        .await
    {
        Ok(l) => l,
        Err(e) => return service_failure(&signed, e),
    };
    let c = loaded.connector();
    let option = fields.get("option").cloned();
    let auth = match c.auth(option.as_deref()) {
        Ok(a) => a,
        Err(e) => return super::failure(StatusCode::BAD_REQUEST, Some(&signed), &e.to_string()),
    };
    let mut plain = Vec::new();
    let mut secret = BTreeMap::new();
    for (key, value) in &fields {
        let Some(name) = key.strip_prefix(SETTING) else {
            continue;
        };
        // An empty field is a setting left out, so the schema says whether it may be.
        if value.is_empty() {
            continue;
        }
        if auth.settings_schema.is_secret(name) {
            secret.insert(name.to_string(), SecretString::from(value.clone()));
        } else {
            plain.push((name.to_string(), PlainValue::Text(value.clone())));
        }
    }
    let name = field("name").to_string();
    let created = state.services.create_connection(NewConnectionInput {
        name: name.clone(),
        connector: c.key().to_string(),
        lookup: Lookup::KeyOnly,
        auth_option: option,
        settings: SettingsInput { plain, secret },
    });
    match created {
        Ok(view) => Redirect::to(&format!("/console/connections/{}?done=created", view.name))
            .into_response(),
        Err(e) => {
            let e = crate::server::error::ApiError::from(e);
            // Secrets are not shown again: only plain fields and the name come back.
            let typed: BTreeMap<String, String> = fields
                .iter()
                .filter(|(k, _)| {
                    k.as_str() == "name"
                        || k.strip_prefix(SETTING)
                            .is_some_and(|n| !auth.settings_schema.is_secret(n))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut res = page(
                &format!("New {} connection", c.name()),
                Some(&signed),
                form(&signed, c, auth, &typed, Some(&e.message)),
            );
            *res.status_mut() = e.status;
            res
        }
    }
}
