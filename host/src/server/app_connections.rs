//! The management API of app connections, behind the admin key: `/v1/app-connections`
//! and `/v1/app-connections/{name}` (create, list, show, replace, delete) and their
//! `authorize` and `revoke`, over the same services as `keyway app-connections`.
//!
//! Owns: the request shape of an app connection (camelCase, the client secret only in
//! the body).
//! Must not: echo the client secret back, in an answer or in a parse error.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::admin::authorize_target;
use super::body::Json as JsonBody;
use super::error::ApiError;
use crate::services::views::RevocationView;
use crate::services::{AppConnectionInput, Expected, ServiceError};

type ApiResult = Result<Response, ApiError>;

/// An app connection's configuration as the API takes it, with its `name` (required to
/// create; when given to replace, it must be the path's). The secret is a plain `String`
/// only until it is wrapped; the body reader never quotes a body it refuses.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AppConnectionBody {
    name: Option<String>,
    provider_url: String,
    issuer_url: Option<String>,
    auth_url: Option<String>,
    token_url: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    client_id: String,
    client_secret: String,
}

impl From<AppConnectionBody> for AppConnectionInput {
    fn from(b: AppConnectionBody) -> Self {
        AppConnectionInput {
            provider_url: b.provider_url,
            issuer_url: b.issuer_url,
            auth_url: b.auth_url,
            token_url: b.token_url,
            scopes: b.scopes,
            client_id: b.client_id,
            client_secret: SecretString::from(b.client_secret),
        }
    }
}

fn input_error(message: &str) -> ApiError {
    ApiError::from(ServiceError::Input {
        field: "name".into(),
        message: message.into(),
    })
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(mut body): JsonBody<AppConnectionBody>,
) -> ApiResult {
    let name = body
        .name
        .take()
        .ok_or_else(|| input_error("is required to create an app connection"))?;
    let view = state.services.create_app_connection(&name, &body.into())?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub(crate) async fn list(State(state): State<Arc<AppState>>) -> ApiResult {
    let list = state.services.list_app_connections()?;
    Ok(Json(json!({ "appConnections": list })).into_response())
}

pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult {
    Ok(Json(state.services.app_connection(&name)?).into_response())
}

/// `PUT /v1/app-connections/{name}`: replaces the whole configuration; tokens are kept.
pub(crate) async fn replace(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<AppConnectionBody>,
) -> ApiResult {
    if body.name.as_deref().is_some_and(|n| n != name) {
        return Err(input_error(
            "differs from the path's: an app connection cannot be renamed",
        ));
    }
    let view = state.services.update_app_connection(&name, &body.into())?;
    Ok(Json(view).into_response())
}

pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult {
    state.services.delete_app_connection(&name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/app-connections/{name}/authorize`: the provider's URL; the provider sends
/// the user back to the server's callback, which completes it.
pub(crate) async fn authorize(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> ApiResult {
    authorize_target(&state, Expected::App(&name), body).await
}

pub(crate) async fn revoke(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult {
    let outcome = state.services.revoke_app(&name).await?;
    Ok(Json(RevocationView::new(&name, &outcome)).into_response())
}
