//! Webhook endpoints. `POST /v1/webhooks/{connection}/{key}` is the provider's: no API key
//! (the signature over the raw body is the proof), a body cap, and an answer as soon as
//! the delivery is stored (202), or 200 for a replay of one already received. The rest
//! sits behind the admin key: the webhooks of each connection, their deliveries, a retry of
//! a dead one, and a signed test delivery.
//!
//! Owns: request and answer shapes of these endpoints.
//! Must not: log or echo a body or a signature.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::services::{MAX_DELIVERY_BYTES, Receipt, ServiceError};
use crate::store::{DeliveryQuery, DeliveryStatus, now_unix};

type ApiResult = Result<Response, ApiError>;

/// Most deliveries one listing returns.
const MAX_LISTED: u32 = 1000;

fn answer(receipt: Receipt) -> Response {
    match receipt {
        Receipt::Queued { id, delivery_id } => (
            StatusCode::ACCEPTED,
            Json(json!({ "accepted": true, "id": id, "deliveryId": delivery_id })),
        )
            .into_response(),
        Receipt::Duplicate {
            id,
            delivery_id,
            received_at_ms,
        } => (
            StatusCode::OK,
            Json(json!({
                "accepted": false,
                "duplicate": true,
                "id": id,
                "deliveryId": delivery_id,
                "receivedAtMs": received_at_ms,
                "message": format!("delivery `{delivery_id}` was already received; it is not queued again"),
            })),
        )
            .into_response(),
    }
}

/// The provider's endpoint.
pub(crate) async fn receive(
    State(state): State<Arc<AppState>>,
    Path((connection, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let bytes = super::body::read(&state, body, MAX_DELIVERY_BYTES).await?;
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.to_string(), v.to_string())))
        .collect();
    let outcome = state
        .services
        .receive_webhook(&connection, &key, &pairs, &bytes, now_unix())
        .await;
    state.metrics.webhook_received(match &outcome {
        Ok(Receipt::Queued { .. }) => "accepted",
        Ok(Receipt::Duplicate { .. }) => "duplicate",
        Err(ServiceError::WebhookRefused { .. }) => "refused",
        Err(_) => "failed",
    });
    if let Err(ServiceError::WebhookRefused { webhook, reason }) = &outcome {
        tracing::warn!(target: "keyway::webhooks", connection = %connection, webhook = %webhook, reason = %reason, "delivery refused");
    }
    Ok(answer(outcome?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhooksQuery {
    connection: Option<String>,
}

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Query(q): Query<WebhooksQuery>,
) -> ApiResult {
    let webhooks = state
        .services
        .list_webhooks(q.connection.as_deref())
        .await?;
    Ok(Json(json!({ "webhooks": webhooks })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliveriesQuery {
    connection: Option<String>,
    webhook: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    /// The `next` of the page before.
    before: Option<String>,
}

pub(crate) async fn deliveries(
    State(state): State<Arc<AppState>>,
    Query(q): Query<DeliveriesQuery>,
) -> ApiResult {
    let status = match q.status.as_deref() {
        None => None,
        Some(text) => Some(DeliveryStatus::parse(text).ok_or_else(|| {
            ApiError::from(ServiceError::Input {
                field: "status".into(),
                message: "must be one of queued, running, delivered, dead".into(),
            })
        })?),
    };
    let page = state.services.deliveries(&DeliveryQuery {
        connection: q.connection,
        webhook: q.webhook,
        status,
        limit: q.limit.unwrap_or(50).min(MAX_LISTED),
        before: super::admin::page_cursor(q.before.as_deref())?,
    })?;
    Ok(Json(json!({
        "deliveries": page.items,
        "next": page.next.map(|c| c.encode()),
    }))
    .into_response())
}

pub(crate) async fn retry(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    Ok(Json(state.services.retry_delivery(&id)?).into_response())
}

/// Signs a sample delivery with the connection's secret and receives it.
pub(crate) async fn test(
    State(state): State<Arc<AppState>>,
    Path((connection, key)): Path<(String, String)>,
) -> ApiResult {
    let receipt = state.services.test_webhook(&connection, &key).await?;
    state.metrics.webhook_received("accepted");
    Ok(answer(receipt))
}
