//! The management API behind the admin key: what the CLI does for connectors,
//! connections, app credentials and records, over HTTP.
//!
//! Owns: request and answer shapes of `/v1/connectors`, `/v1/connections...` (except
//! route invocation) and `/v1/credentials/{key}`.
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
use crate::oauth::{AuthorizationOutcome, ProviderRevocation};
use crate::services::AuthorizationStart;
use crate::store::{NewConnection, RecordOrder, RecordQuery};

type ApiResult = Result<Response, ApiError>;

pub async fn list_connectors(State(state): State<Arc<AppState>>) -> ApiResult {
    let mut connectors = Vec::new();
    for key in &state.connectors {
        let loaded = state.services.connector(key).await?;
        let c = loaded.connector();
        let routes: Vec<Value> = loaded
            .component
            .routes()
            .iter()
            .map(
                |r| json!({ "method": r.method.as_str(), "path": r.path, "auth": r.auth.as_str() }),
            )
            .collect();
        connectors.push(json!({
            "key": c.key(),
            "name": c.name(),
            "version": c.version().to_string(),
            "oauth": c.oauth().is_some(),
            "routes": routes,
        }));
    }
    Ok(Json(json!({ "connectors": connectors, "skipped": state.skipped })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateConnection {
    name: String,
    connector: String,
    #[serde(default)]
    settings: Map<String, Value>,
    /// Kept as raw JSON so a malformed value is refused by name, never echoed back in a
    /// parse error.
    #[serde(default)]
    secret_settings: Map<String, Value>,
}

pub async fn create_connection(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<CreateConnection>,
) -> ApiResult {
    if !state.connectors.contains(&body.connector) {
        return Err(ApiError::bad_request(format!(
            "connector: no loaded connector `{}` (GET /v1/connectors lists them)",
            body.connector
        )));
    }
    let manifest = state
        .services
        .catalog
        .manifest(&body.connector)
        .map_err(|e| ApiError::bad_request(format!("connector: {e:#}")))?;
    let c = &manifest.connector;
    if let Some(name) = body
        .settings
        .keys()
        .find(|k| c.connection().settings_schema.is_secret(k))
    {
        return Err(ApiError::bad_request(format!(
            "settings.{name}: `{name}` is a secret setting; send it in secretSettings"
        )));
    }
    let mut secret = BTreeMap::new();
    for (name, value) in body.secret_settings {
        let Value::String(text) = value else {
            return Err(ApiError::bad_request(format!(
                "secretSettings.{name}: must be a string"
            )));
        };
        secret.insert(name, SecretString::from(text));
    }
    let valid = state
        .services
        .catalog
        .validated_connection(c, &body.settings, &secret)
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let record = state.services.store.create_connection(&NewConnection {
        name: body.name,
        connector: valid.connector,
        credential_key: valid.credential_key,
        settings: valid.settings,
        secret_settings: valid.secret_settings,
    })?;
    Ok((StatusCode::CREATED, Json(json!(record))).into_response())
}

pub async fn list_connections(State(state): State<Arc<AppState>>) -> ApiResult {
    let list = state.services.store.list_connections()?;
    Ok(Json(json!({ "connections": list })).into_response())
}

pub async fn show_connection(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult {
    let record = state.services.store.connection_by_name(&name)?;
    Ok(Json(json!(record)).into_response())
}

pub async fn delete_connection(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult {
    state.services.store.delete_connection(&name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    scopes: Option<Vec<String>>,
}

pub fn outcome_json(name: &str, o: &AuthorizationOutcome) -> Value {
    json!({
        "connection": name,
        "status": "connected",
        "grantedScopes": o.granted_scopes,
        "missingScopes": o.missing_scopes,
        "expiresAt": o.expires_at,
        "hasRefreshToken": o.has_refresh_token,
        "callbackParams": o.callback_params,
    })
}

pub async fn authorize(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> ApiResult {
    let body = super::body::read(&state, body, super::body::ADMIN_BODY_CAP).await?;
    let scopes = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        super::body::parse_json::<AuthorizeBody>(&body)?.scopes
    };
    let redirect = state.redirect_uri()?;
    match state
        .services
        .begin_authorization(&name, &redirect, scopes)
        .await?
    {
        AuthorizationStart::Redirect(request) => Ok(Json(json!({
            "authorizationUrl": request.url.as_str(),
            "redirectUri": request.redirect_uri.as_str(),
            "scopes": request.scopes,
            "expiresAt": request.expires_at,
        }))
        .into_response()),
        AuthorizationStart::Connected(outcome) => {
            let mut answer = outcome_json(&name, &outcome);
            state.post_connect(&name, &mut answer).await?;
            Ok(Json(answer).into_response())
        }
    }
}

pub async fn revoke(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> ApiResult {
    let (outcome, warning) = match state.services.revoke(&name).await? {
        ProviderRevocation::Revoked => ("revoked_at_provider", None),
        ProviderRevocation::NoEndpoint => ("no_revocation_endpoint", None),
        ProviderRevocation::NoTokens => ("no_tokens", None),
        ProviderRevocation::Failed(e) => ("provider_revocation_failed", Some(e.to_string())),
    };
    Ok(Json(json!({
        "connection": name,
        "outcome": outcome,
        "localTokensDeleted": true,
        "warning": warning,
    }))
    .into_response())
}

pub async fn test(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> ApiResult {
    let services = state.services.clone();
    let res = state
        .on_guests(async move { services.test_connection(&name).await })
        .await??;
    let body = serde_json::from_slice::<Value>(&res.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&res.body).into_owned()));
    Ok(Json(json!({
        "status": res.status,
        "ok": (200..300).contains(&res.status),
        "invocationId": res.invocation_id,
        "body": body,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsQuery {
    entity: Option<String>,
    stream: Option<String>,
    limit: Option<u32>,
    #[serde(default)]
    newest: bool,
}

pub async fn records(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<RecordsQuery>,
) -> ApiResult {
    let store = &state.services.store;
    store.connection_by_name(&name)?;
    let records = store.list_records(&RecordQuery {
        connection: name,
        entity: q.entity,
        stream: q.stream,
        order: if q.newest {
            RecordOrder::Newest
        } else {
            RecordOrder::Oldest
        },
        limit: Some(q.limit.unwrap_or(100).min(10_000)),
    })?;
    let values: Vec<Value> = records.iter().map(crate::cli::records::to_json).collect();
    Ok(Json(json!({ "records": values })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvocationsQuery {
    limit: Option<u32>,
}

pub async fn invocations(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<InvocationsQuery>,
) -> ApiResult {
    state.services.store.connection_by_name(&name)?;
    let list = state
        .services
        .recent_invocations(&name, q.limit.unwrap_or(20).min(1000))?;
    Ok(Json(json!({ "invocations": list })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialsBody {
    client_id: String,
    client_secret: Option<String>,
}

pub async fn set_credentials(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    JsonBody(body): JsonBody<CredentialsBody>,
) -> ApiResult {
    let secret = body.client_secret.map(SecretString::from);
    state
        .services
        .store
        .set_credentials(&key, &body.client_id, secret.as_ref())?;
    Ok(Json(json!({
        "key": key,
        "clientId": body.client_id,
        "hasSecret": secret.is_some(),
    }))
    .into_response())
}
