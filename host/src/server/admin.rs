//! The management API behind the admin key: the connection use cases of
//! [`crate::services`] over HTTP, for connectors, connections, app credentials and records.
//!
//! Owns: request shapes of `/v1/connectors`, `/v1/connections...` (except route
//! invocation) and `/v1/credentials/{key}`; answers are the services' views.
//! Must not: accept a secret outside a request body, echo one back (a body that does not
//! parse is described by `body.rs`, never quoted), or log a body.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::body::Json as JsonBody;
use super::error::ApiError;
use crate::catalog::Lookup;
use crate::services::views::{
    AuthorizationUrlView, AuthorizedView, ConnectorView, CredentialView, RevocationView,
};
use crate::services::{
    AuthorizationStart, Expected, NewConnectionInput, PlainValue, ServiceError, SettingsInput,
};
use crate::store::{PageCursor, RecordOrder, RecordQuery};

type ApiResult = Result<Response, ApiError>;

/// The `before` of a newest-first list: the `next` an earlier page answered.
pub(super) fn page_cursor(before: Option<&str>) -> Result<Option<PageCursor>, ApiError> {
    match before {
        None => Ok(None),
        Some(text) => PageCursor::parse(text).map(Some).ok_or_else(|| {
            ApiError::from(ServiceError::Input {
                field: "before".into(),
                message: "is not a cursor this list answered (pass the `next` of the page \
                          before)"
                    .into(),
            })
        }),
    }
}

pub(crate) async fn list_connectors(State(state): State<Arc<AppState>>) -> ApiResult {
    let mut connectors = Vec::new();
    for key in &state.connectors.loaded {
        let loaded = state.services.connector(key, Lookup::KeyOnly).await?;
        connectors.push(ConnectorView::from(&*loaded));
    }
    let skipped: Vec<Value> = state
        .connectors
        .skipped
        .iter()
        .map(|s| json!({ "dir": s.dir, "error": s.error }))
        .collect();
    Ok(Json(json!({ "connectors": connectors, "skipped": skipped })).into_response())
}

/// Plain and secret settings of a request body. Secret values are kept as raw JSON so a
/// malformed one is refused by name, never echoed back in a parse error.
fn settings_input(
    settings: Map<String, Value>,
    secret_settings: Map<String, Value>,
) -> Result<SettingsInput, ApiError> {
    let mut secret = BTreeMap::new();
    for (name, value) in secret_settings {
        let Value::String(text) = value else {
            return Err(ApiError::from(ServiceError::Input {
                field: format!("secretSettings.{name}"),
                message: "must be a string".into(),
            }));
        };
        secret.insert(name, SecretString::from(text));
    }
    Ok(SettingsInput {
        plain: settings
            .into_iter()
            .map(|(k, v)| (k, PlainValue::Json(v)))
            .collect(),
        secret,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateConnection {
    name: String,
    connector: String,
    /// The connector's auth option to use, when it offers several.
    #[serde(default)]
    auth_option: Option<String>,
    #[serde(default)]
    settings: Map<String, Value>,
    #[serde(default)]
    secret_settings: Map<String, Value>,
}

pub async fn create_connection(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<CreateConnection>,
) -> ApiResult {
    let created = state.services.create_connection(NewConnectionInput {
        name: body.name,
        connector: body.connector,
        lookup: Lookup::KeyOnly,
        auth_option: body.auth_option,
        settings: settings_input(body.settings, body.secret_settings)?,
    })?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateConnection {
    #[serde(default)]
    settings: Map<String, Value>,
    #[serde(default)]
    secret_settings: Map<String, Value>,
}

pub(crate) async fn update_connection(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<UpdateConnection>,
) -> ApiResult {
    let input = settings_input(body.settings, body.secret_settings)?;
    Ok(Json(state.services.update_settings(&name, input)?).into_response())
}

pub(crate) async fn list_connections(State(state): State<Arc<AppState>>) -> ApiResult {
    let list = state.services.list_connections()?;
    Ok(Json(json!({ "connections": list })).into_response())
}

pub async fn show_connection(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult {
    Ok(Json(state.services.show_connection(&name)?).into_response())
}

pub(crate) async fn delete_connection(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult {
    state.services.delete_connection(&name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthorizeBody {
    scopes: Option<Vec<String>>,
}

/// The scopes an authorize request asks for: an empty body asks for the defaults.
async fn authorize_scopes(
    state: &AppState,
    body: axum::body::Body,
) -> Result<Option<Vec<String>>, ApiError> {
    let body = super::body::read(state, body, super::body::ADMIN_BODY_CAP).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    Ok(super::body::parse_json::<AuthorizeBody>(&body)?.scopes)
}

/// Answers an authorize request for `target`: the provider's URL to send the user to,
/// or the connection already authorized (client credentials), then its `postConnect`
/// (a connector connection's).
pub(super) async fn authorize_target(
    state: &AppState,
    target: Expected<'_>,
    body: axum::body::Body,
) -> ApiResult {
    let scopes = authorize_scopes(state, body).await?;
    let redirect = state.redirect_uri()?;
    let started = state
        .services
        .begin_target_authorization(target, &redirect, scopes)
        .await?;
    let (name, post) = match target {
        Expected::Connection(name) => (name, true),
        Expected::App(name) => (name, false),
    };
    match started {
        AuthorizationStart::Redirect(request) => {
            Ok(Json(AuthorizationUrlView::from(&request)).into_response())
        }
        AuthorizationStart::Connected(outcome) => {
            let mut answer = AuthorizedView::new(name, &outcome);
            if post {
                state.post_connect(&mut answer).await?;
            }
            Ok(Json(answer).into_response())
        }
    }
}

pub async fn authorize(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> ApiResult {
    authorize_target(&state, Expected::Connection(&name), body).await
}

pub async fn revoke(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> ApiResult {
    let outcome = state.services.revoke(&name).await?;
    Ok(Json(RevocationView::new(&name, &outcome)).into_response())
}

pub async fn test(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> ApiResult {
    let services = state.services.clone();
    let view = state
        .on_guests(async move { services.test_connection(&name).await })
        .await??;
    Ok(Json(view).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordsQuery {
    entity: Option<String>,
    stream: Option<String>,
    limit: Option<u32>,
    #[serde(default)]
    newest: bool,
    /// The `next` of the page before.
    after: Option<i64>,
}

pub async fn records(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<RecordsQuery>,
) -> ApiResult {
    let limit = q.limit.unwrap_or(100).min(10_000);
    let records = state.services.records(&RecordQuery {
        connection: name,
        entity: q.entity,
        stream: q.stream,
        order: if q.newest {
            RecordOrder::Newest
        } else {
            RecordOrder::Oldest
        },
        limit: Some(limit),
        after: q.after,
    })?;
    // A full page may have more after it: `next` is the cursor to ask for them with.
    let next = (limit > 0 && records.len() == limit as usize)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    Ok(Json(json!({ "records": records, "next": next })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InvocationsQuery {
    limit: Option<u32>,
    /// The `next` of the page before.
    before: Option<String>,
}

pub async fn invocations(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<InvocationsQuery>,
) -> ApiResult {
    let before = page_cursor(q.before.as_deref())?;
    let page = state
        .services
        .recent_invocations(&name, q.limit.unwrap_or(20).min(1000), before)?;
    Ok(Json(json!({
        "invocations": page.items,
        "next": page.next.map(|c| c.encode()),
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CredentialsBody {
    client_id: String,
    client_secret: Option<String>,
}

/// `GET /v1/credentials`: every stored key with its client id and whether a secret is
/// sealed (never the secret); an app connection's own are not among them.
pub async fn list_credentials(State(state): State<Arc<AppState>>) -> ApiResult {
    let credentials = state.services.list_credentials()?;
    Ok(Json(json!({ "credentials": credentials })).into_response())
}

/// `DELETE /v1/credentials/{key}`: 204, or 404 when nothing is stored under the key.
pub async fn delete_credentials(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> ApiResult {
    state.services.delete_credentials(&key)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn set_credentials(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    JsonBody(body): JsonBody<CredentialsBody>,
) -> ApiResult {
    let secret = body.client_secret.map(SecretString::from);
    state
        .services
        .set_credentials(&key, &body.client_id, secret.as_ref())?;
    Ok(Json(CredentialView {
        key,
        client_id: body.client_id,
        has_secret: secret.is_some(),
        updated_at: None,
    })
    .into_response())
}
