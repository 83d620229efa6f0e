//! Route invocation over HTTP: `{METHOD} /v1/connections/{name}/routes/{path}`.
//!
//! Order of checks: API key (middleware), the body, read whole within the body read
//! timeout (408) and the body cap (413), then a slot: the key's share (else 429) and a
//! free slot (else 503), both with `Retry-After`; the route exists and is declared
//! `api_key` (an `internal` route answers 403), then the guest runs through
//! `Services::invoke`. A slot is taken only once the body is in, so a slow upload holds
//! none.
//!
//! Owns: turning the HTTP request into a `RouteRequest` and the route's answer (checked
//! and filtered by `answer.rs`; or the runtime's failure, with its invocation id) into
//! the HTTP response.
//! Must not: forward the caller's `Authorization` or cookies to the guest, send a header
//! or status the guest chose that `answer.rs` refuses, or wait for a slot (a full server
//! answers at once).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::answer::{self, BadStatus};
use super::auth::ApiKeyId;
use super::error::ApiError;
use super::metrics::{Denial, Outcome};
use super::slots::{Refused, Slot};
use crate::runtime::{RouteAuth, RouteRequest};
use crate::services::ServiceError;
use crate::types::Method;

/// Request headers a route may see; everything else (credentials, cookies, hop-by-hop)
/// stays with the host.
const FORWARDED: &[&str] = &["content-type", "accept", "user-agent", "x-request-id"];

fn method_of(m: &axum::http::Method) -> Result<Method, ApiError> {
    Method::parse(m.as_str()).ok_or_else(|| {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("routes take GET, POST, PUT, PATCH or DELETE, not {m}"),
        )
    })
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// A slot for the caller's key, or the answer that refuses one.
fn take_slot(state: &AppState, key: &ApiKeyId) -> Result<Slot, ApiError> {
    state.slots.try_take(&key.0).map_err(|refused| match refused {
        Refused::KeyShare => {
            state.metrics.deny(Denial::KeyShare);
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "key_share_exceeded",
                format!(
                    "this API key already runs {} invocations, its share of the {} slots; retry shortly",
                    state.slots.per_key(),
                    state.slots.total()
                ),
            )
            .retry_after(1)
        }
        Refused::Full => {
            state.metrics.deny(Denial::Overloaded);
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                format!(
                    "all {} invocation slots are busy; retry shortly",
                    state.slots.total()
                ),
            )
            .retry_after(1)
        }
    })
}

pub async fn invoke(
    State(state): State<Arc<AppState>>,
    Path((name, path)): Path<(String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    let method = method_of(req.method())?;
    let route_path = format!("/{path}");
    let query = query_pairs(req.uri().query());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter(|(k, _)| FORWARDED.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let key = req.extensions().get::<ApiKeyId>().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the API key check did not run for this route",
        )
    })?;
    let body = super::body::read(&state, req.into_body(), state.config.limits.max_body).await?;
    let slot = take_slot(&state, &key)?;

    let connection = state.services.live_connection(&name).await?;
    let route = connection
        .connector
        .component
        .find_route(method, &route_path)
        .map_err(|e| ApiError::from(ServiceError::Route(e)))?;
    if route.auth != RouteAuth::ApiKey {
        state.metrics.deny(Denial::InternalRoute);
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "internal_route",
            format!("{method} {route_path} is an internal route; only the host calls it"),
        ));
    }
    let metrics = state
        .metrics
        .route(&connection.connector_key, method, &route_path);
    let request = RouteRequest {
        method,
        path: route_path,
        query,
        headers,
        body: body.into(),
    };
    let in_flight = state.metrics.in_flight();
    let services = state.services.clone();
    let running = connection.clone();
    let (outcome, seconds) = state
        .on_guests(async move {
            // The slot and the in-flight count are held until the guest is done, even if
            // the caller hangs up.
            let _slot = slot;
            let _in_flight = in_flight;
            let started = Instant::now();
            let outcome = services.invoke_live(&running, request).await;
            (outcome, started.elapsed().as_secs_f64())
        })
        .await?;
    let connector_key = connection.connector_key.as_str();
    match outcome {
        Ok(res) => {
            let served = match answer::sanitize(res.status, res.headers, &res.body) {
                Ok(served) => served,
                Err(BadStatus(status)) => {
                    let error = ApiError {
                        invocation_id: Some(res.invocation_id.clone()),
                        ..ApiError::new(
                            StatusCode::BAD_GATEWAY,
                            "malformed_response",
                            format!(
                                "connector {connector_key} route {} answered status {status}; a route answers a final status, 200 to 599",
                                metrics.label()
                            ),
                        )
                    };
                    state.metrics.invocation(
                        &metrics,
                        Outcome::Error(error.code),
                        seconds,
                        &res.calls,
                    );
                    tracing::warn!(connection = %name, route = %metrics.label(), status, "route answered a status the host does not serve");
                    return Ok(error.into_response());
                }
            };
            state.metrics.invocation(
                &metrics,
                Outcome::Status(served.status.as_u16()),
                seconds,
                &res.calls,
            );
            if !served.dropped.is_empty() {
                for d in &served.dropped {
                    state
                        .metrics
                        .header_dropped(connector_key, d.reason.as_str());
                }
                let names: Vec<&str> = served.dropped.iter().map(|d| d.name).collect();
                tracing::warn!(
                    connection = %name,
                    route = %metrics.label(),
                    dropped = %names.join(", "),
                    "route response headers the host does not send were dropped"
                );
            }
            let body = if served.body_dropped {
                Body::empty()
            } else {
                Body::from(res.body)
            };
            let mut response = Response::new(body);
            *response.status_mut() = served.status;
            *response.headers_mut() = served.headers;
            if let Ok(id) = HeaderValue::try_from(res.invocation_id) {
                response.headers_mut().insert("x-keyway-invocation-id", id);
            }
            Ok(response)
        }
        Err(e) => {
            let error = ApiError::from(e);
            state
                .metrics
                .invocation(&metrics, Outcome::Error(error.code), seconds, &[]);
            tracing::warn!(
                connection = %name,
                route = %metrics.label(),
                code = error.code,
                invocation_id = error.invocation_id.as_deref().unwrap_or("-"),
                "invocation failed"
            );
            Ok(error.into_response())
        }
    }
}
