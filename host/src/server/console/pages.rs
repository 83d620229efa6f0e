//! The console's read pages: connectors (what each may do, and the ones skipped at start
//! with why), connections (status and activity), and one connection (its account,
//! scopes, token, streams and their runs, records, recent invocations, and its buttons).
//!
//! Owns: what each page shows. Must not: show a secret: secret settings are listed as
//! "set", tokens never appear (only whether there is one, and when it expires).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::session::Signed;
use super::{SignedIn, chart, page, service_failure, when};
use crate::catalog::Lookup;
use crate::server::AppState;
use crate::services::views::ConnectionView;

fn status(s: &str) -> Markup {
    html! { span class={"status status-" (s)} { (s) } }
}

pub(super) async fn connectors(
    State(state): State<Arc<AppState>>,
    SignedIn(signed): SignedIn,
) -> Response {
    let mut loaded = Vec::new();
    for key in &state.connectors.loaded {
        match state.services.connector(key, Lookup::KeyOnly).await {
            Ok(c) => loaded.push(c),
            Err(e) => return service_failure(&signed, e),
        }
    }
    let body = html! {
        @for l in &loaded {
            @let c = l.connector();
            section {
                h2 { (c.name()) " " small { "(" (c.key()) " " (c.version().to_string()) ", provider " (c.provider()) ")" } }
                p { a href={"/console/connections/new?connector=" (c.key())} { "Create a connection" } }
                @if c.has_auth_options() {
                    h3 { "Ways to authenticate" }
                    ul { @for o in c.auth_options() {
                        li { (o.title.as_deref().unwrap_or("")) " (" (o.name.as_deref().unwrap_or("")) ", "
                             (o.kind.map_or("", |k| k.as_str())) ")" }
                    } }
                } @else if c.oauth().is_some() {
                    p { "Authenticates with OAuth." }
                }
                h3 { "Routes" }
                table { tr { th { "Method" } th { "Path" } th { "Reachable with" } }
                    @for r in l.component.routes() {
                        tr { td { (r.method.as_str()) } td { code { (r.path) } } td { (r.auth.as_str()) } }
                    }
                }
                h3 { "Permissions" }
                @let p = c.permissions();
                dl {
                    dt { "Outbound HTTP" } dd { @for h in &p.http { code { (h.to_string()) } " " } }
                    dt { "Writes entities" } dd { @for (e, w) in &p.entities { @if *w { (e) " " } } }
                    dt { "Reads secrets" } dd { @for s in &p.secrets { (s) " " } }
                    dt { "Injects secrets" } dd { @for s in &p.injectable_secrets { (s) " " } }
                    dt { "App connections" } dd {
                        @for a in &p.readable_apps { (a) " (token) " }
                        @for a in &p.injectable_apps { (a) " (inject) " }
                    }
                    dt { "Streams" } dd { @for s in c.streams() { (s.key) " " } }
                    dt { "Webhooks" } dd { @for w in c.webhooks() { (w.key) " " } }
                }
            }
        }
        @if !state.connectors.skipped.is_empty() {
            h2 { "Skipped at start" }
            table { tr { th { "Directory" } th { "Why" } }
                @for s in &state.connectors.skipped {
                    tr { td { code { (s.dir.display().to_string()) } } td class="error" { (s.error) } }
                }
            }
        }
    };
    page("Connectors", Some(&signed), body)
}

pub(super) async fn connections(
    State(state): State<Arc<AppState>>,
    SignedIn(signed): SignedIn,
) -> Response {
    let list = match state.services.list_connections() {
        Ok(l) => l,
        Err(e) => return service_failure(&signed, e),
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let activity = match state.services.last_hour_activity(now_ms) {
        Ok(a) => a,
        Err(e) => return service_failure(&signed, e),
    };
    let body = html! {
        (chart::activity(&activity))
        p { "New connection for: "
            @for key in &state.connectors.loaded {
                a href={"/console/connections/new?connector=" (key)} { (key) } " "
            }
        }
        table {
            tr { th { "Name" } th { "Connector" } th { "Status" } th { "Account" } th { "Scopes" }
                 th { "Token expires" } th { "Last refresh" } th { "Last error" } }
            @for c in &list {
                tr {
                    td { a href={"/console/connections/" (c.name)} { (c.name) } }
                    td { (c.connector) }
                    td { (status(c.status)) }
                    td { (account(c)) }
                    td { (c.granted_scopes.as_ref().map(|s| s.join(" ")).unwrap_or_default()) }
                    td { (c.token_expires_at.map(when).unwrap_or_else(|| "-".into())) }
                    td { (c.last_refresh_at.map(when).unwrap_or_else(|| "-".into())) }
                    td class="error" { (c.last_error.clone().unwrap_or_default()) }
                }
            }
        }
        @if list.is_empty() { p { "No connections yet." } }
    };
    page("Connections", Some(&signed), body)
}

fn account(c: &ConnectionView) -> String {
    c.account
        .as_ref()
        .and_then(|a| a.name.clone().or_else(|| a.id.clone()))
        .unwrap_or_default()
}

#[derive(Deserialize)]
pub(super) struct Flash {
    pub done: Option<String>,
}

/// The message a finished action leaves; only these fixed texts, never the query's.
pub(super) fn flash(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "created" => "Connection created.",
        "connected" => "Connected.",
        "revoked" => "Revoked: the tokens are deleted.",
        "run" => "Sync started; reload to see it finish.",
        "stored" => "Credentials stored.",
        "deleted" => "Credentials deleted.",
        _ => return None,
    })
}

pub(super) async fn connection(
    State(state): State<Arc<AppState>>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
    Query(q): Query<Flash>,
) -> Response {
    match connection_body(&state, &signed, &name, flash(q.done.as_deref())).await {
        Ok(body) => page(&format!("Connection {name}"), Some(&signed), body),
        Err(r) => r,
    }
}

async fn connection_body(
    state: &AppState,
    signed: &Signed,
    name: &str,
    flash: Option<&str>,
) -> Result<Markup, Response> {
    let fail = |e: crate::services::ServiceError| service_failure(signed, e);
    let c = state.services.show_connection(name).map_err(fail)?;
    let loaded = state
        .services
        .connector(&c.connector, Lookup::KeyOrPath)
        .await
        .map_err(fail)?;
    let manifest = loaded.connector();
    let auth = manifest.auth(c.auth_option.as_deref()).ok();
    let oauth = auth.is_some_and(|a| a.oauth.is_some());
    let streams = state
        .services
        .list_streams(Some(name))
        .await
        .map_err(fail)?;
    let records = state.services.count_records(name).map_err(fail)?;
    let invocations = state
        .services
        .recent_invocations(name, 20, None)
        .map_err(fail)?
        .items;
    let csrf = &signed.csrf;
    let button = |action: &str, label: &str, class: &str| {
        html! {
            form method="post" action={"/console/connections/" (name) "/" (action)} {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" class=(class) { (label) }
            }
        }
    };
    Ok(html! {
        @if let Some(text) = flash { p class="notice" { (text) } }
        div class="actions" {
            @if oauth {
                (button("authorize", if c.status == "pending_authorization" { "Connect" } else { "Re-authorize" }, ""))
            }
            @if manifest.connection().test_connection.is_some() { (button("test", "Test", "")) }
            @if oauth { a href={"/console/connections/" (name) "/confirm/revoke"} { "Revoke…" } " " }
            a href={"/console/connections/" (name) "/confirm/delete"} { "Delete…" }
        }
        dl {
            dt { "Status" } dd { (status(c.status)) }
            dt { "Connector" } dd { (c.connector) }
            @if let Some(option) = &c.auth_option { dt { "Authenticates with" } dd { (option) } }
            dt { "Account" } dd { (account(&c)) }
            dt { "Granted scopes" } dd { (c.granted_scopes.as_ref().map(|s| s.join(" ")).unwrap_or_else(|| "-".into())) }
            dt { "Token" } dd { @if c.has_tokens { "held; expires " (c.token_expires_at.map(when).unwrap_or_else(|| "never".into())) } @else { "none" } }
            dt { "Last refresh" } dd { (c.last_refresh_at.map(when).unwrap_or_else(|| "-".into())) }
            dt { "Last error" } dd class="error" { (c.last_error.clone().unwrap_or_else(|| "-".into())) }
            dt { "Settings" } dd {
                @for (k, v) in &c.settings { code { (k) } " = " (v.to_string()) br; }
                @for k in &c.secret_settings { code { (k) } " = set (secret)" br; }
            }
            dt { "Records" } dd { span id="records" { (records) } }
            dt { "Created" } dd { (when(c.created_at)) }
        }
        @if !streams.is_empty() {
            h2 { "Streams" }
            table {
                tr { th { "Stream" } th { "Schedule" } th { "Next run" } th { "Last run" } th { "Imported" } th {} }
                @for s in &streams {
                    tr {
                        td { (s.stream) " " small { (s.route) } }
                        td { (s.schedule.clone().unwrap_or_else(|| "manual".into())) @if s.paused { " (paused)" } }
                        td { (s.next_run_at.map(when).unwrap_or_else(|| "-".into())) }
                        td { @if let Some(r) = &s.last_run { (r.status) " " (when(r.started_at_ms / 1000)) @if let Some(e) = &r.error { br; span class="error" { (e) } } } @else { "-" } }
                        td { (s.last_run.as_ref().map_or(0, |r| r.imported)) }
                        td { form method="post" action={"/console/connections/" (name) "/streams/" (s.stream) "/run"} {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Run now" }
                        } }
                    }
                }
            }
        }
        h2 { "Recent invocations" }
        table {
            tr { th { "When" } th { "Route" } th { "Outcome" } th { "Duration" } }
            @for i in &invocations {
                @let r = &i.0;
                tr {
                    td { (when(r.started_at_ms / 1000)) }
                    td { code { (r.route) } }
                    td { @if let Some(s) = r.status { (s) } @if let Some(code) = &r.error_code { span class="error" { (code) } } }
                    td { (format!("{:.1} ms", r.duration_us as f64 / 1000.0)) }
                }
            }
        }
    })
}
