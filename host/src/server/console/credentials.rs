//! The console's Credentials page: the OAuth app credentials (client id and client secret)
//! that connectors name by `client.credentialKey`, which Connect needs.
//!
//! Owns: which keys are listed (every key an OAuth block of a loaded connector names, in
//! its single shape or any auth option, then every stored key none of them names) and what
//! a row shows: who names the key, whether credentials are set, the client id (not a
//! secret) and when they were set. Setting and deleting are `credential_form.rs`'s.
//! Must not: show a client secret (only whether one is stored), or read the store but
//! through the use cases.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};

use super::pages::{Flash, flash};
use super::session::Signed;
use super::{SignedIn, page, service_failure, when};
use crate::catalog::Lookup;
use crate::manifest::Connector;
use crate::server::AppState;
use crate::services::views::CredentialView;

/// A connector that names a credential key, with the auth option that does when the
/// connector offers several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct User {
    pub connector: String,
    pub option: Option<String>,
}

/// Every credential key the OAuth blocks of `connectors` name, with who names it, by key.
pub(super) fn named_keys<'a>(
    connectors: impl IntoIterator<Item = &'a Connector>,
) -> BTreeMap<String, Vec<User>> {
    let mut keys: BTreeMap<String, Vec<User>> = BTreeMap::new();
    for c in connectors {
        for option in c.auth_options() {
            if let Some(oauth) = &option.oauth {
                keys.entry(oauth.client.credential_key.clone())
                    .or_default()
                    .push(User {
                        connector: c.key().to_string(),
                        option: option.name.clone(),
                    });
            }
        }
    }
    keys
}

/// The keys the connectors loaded at start name, read from the catalog as it is now.
pub(super) async fn loaded_keys(
    state: &AppState,
    signed: &Signed,
) -> Result<BTreeMap<String, Vec<User>>, Response> {
    let mut loaded = Vec::new();
    for key in &state.connectors.loaded {
        match state.services.connector(key, Lookup::KeyOnly).await {
            Ok(c) => loaded.push(c),
            Err(e) => return Err(service_failure(signed, e)),
        }
    }
    Ok(named_keys(loaded.iter().map(|l| l.connector())))
}

/// Who names a key, one per line, or that no loaded connector does.
pub(super) fn users(users: &[User]) -> Markup {
    html! {
        @for u in users {
            (u.connector) @if let Some(option) = &u.option { " (option " code { (option) } ")" } br;
        }
        @if users.is_empty() { span class="hint" { "no loaded connector" } }
    }
}

/// Whether credentials are stored, as a badge.
pub(super) fn state_badge(stored: Option<&CredentialView>) -> Markup {
    html! {
        @match stored {
            Some(c) => {
                span class="status status-set" { "set" }
                @if !c.has_secret { " " span class="hint" { "(no client secret: a public client)" } }
            }
            None => span class="status status-unset" { "not set" },
        }
    }
}

fn table(rows: &[(&str, &[User], Option<&CredentialView>)]) -> Markup {
    html! {
        table {
            tr { th { "Credential key" } th { "Used by" } th { "Credentials" } th { "Client id" } th { "Set at" } th {} }
            @for (key, named_by, stored) in rows {
                tr {
                    td { code { (key) } }
                    td { (users(named_by)) }
                    td { (state_badge(*stored)) }
                    td { @if let Some(c) = stored { code { (c.client_id) } } @else { "-" } }
                    td { (stored.and_then(|c| c.updated_at).map(when).unwrap_or_else(|| "-".into())) }
                    td {
                        a href={"/console/credentials/" (key)} { @if stored.is_some() { "Replace…" } @else { "Set…" } }
                        @if stored.is_some() { " " a href={"/console/credentials/" (key) "/confirm/delete"} { "Delete…" } }
                    }
                }
            }
        }
    }
}

/// `GET /console/credentials`.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    SignedIn(signed): SignedIn,
    Query(q): Query<Flash>,
) -> Response {
    let named = match loaded_keys(&state, &signed).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let stored: BTreeMap<String, CredentialView> = match state.services.list_credentials() {
        Ok(list) => list.into_iter().map(|c| (c.key.clone(), c)).collect(),
        Err(e) => return service_failure(&signed, e),
    };
    let named_rows: Vec<_> = named
        .iter()
        .map(|(key, by)| (key.as_str(), by.as_slice(), stored.get(key)))
        .collect();
    let other_rows: Vec<_> = stored
        .iter()
        .filter(|(key, _)| !named.contains_key(*key))
        .map(|(key, c)| (key.as_str(), &[][..], Some(c)))
        .collect();
    let body = html! {
        @if let Some(text) = flash(q.done.as_deref()) { p class="notice" { (text) } }
        p class="hint" {
            "The client id and client secret of each OAuth app a connector names by its credential key. "
            "Connect needs them. A client secret is never shown once stored."
        }
        h2 { "Named by connectors" }
        @if named_rows.is_empty() { p { "No loaded connector uses OAuth." } } @else { (table(&named_rows)) }
        @if !other_rows.is_empty() {
            h2 { "Stored, named by no loaded connector" }
            (table(&other_rows))
        }
    };
    page("Credentials", Some(&signed), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_str;

    fn connector(key: &str, connection: &str) -> Connector {
        let text = format!(
            r#"{{ "key": "{key}", "name": "{key}", "provider": "p", "kind": "source",
                 "version": "0.1.0", "permissions": {{ "http": ["https://api.example/*"] }},
                 "connection": {connection} }}"#
        );
        parse_str(&text, "connector.json").expect("valid manifest")
    }

    fn oauth(key: &str) -> String {
        format!(
            r#"{{ "type": "authorization_code",
                  "authorizationUrlTemplate": "https://idp.example/authorize",
                  "tokenUrlTemplate": "https://idp.example/token",
                  "client": {{ "credentialKey": "{key}" }} }}"#
        )
    }

    fn user(connector: &str, option: Option<&str>) -> User {
        User {
            connector: connector.into(),
            option: option.map(str::to_string),
        }
    }

    #[test]
    fn every_oauth_block_names_its_key_once_per_user() {
        let single = connector("single", &format!(r#"{{ "oauth": {} }}"#, oauth("shared")));
        let options = connector(
            "multi",
            &format!(
                r#"{{ "authOptions": {{
                    "apiKey": {{ "type": "apiKey", "title": "Key", "settingsSchema": {{
                        "properties": {{ "k": {{ "type": "string", "x-secret": true }} }} }} }},
                    "user": {{ "type": "oauth", "title": "User", "oauth": {} }},
                    "admin": {{ "type": "oauth", "title": "Admin", "oauth": {} }} }} }}"#,
                oauth("shared"),
                oauth("multi-admin")
            ),
        );
        let plain = connector("plain", "{}");
        let keys = named_keys([&single, &options, &plain]);
        assert_eq!(
            keys.get("shared").cloned().unwrap_or_default(),
            [user("single", None), user("multi", Some("user"))]
        );
        assert_eq!(
            keys.get("multi-admin").cloned().unwrap_or_default(),
            [user("multi", Some("admin"))]
        );
        // The API key option and the connector without OAuth name no key.
        assert_eq!(keys.len(), 2, "{keys:?}");
    }
}
