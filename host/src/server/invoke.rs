//! Route invocation over HTTP: `{METHOD} /v1/connections/{name}/routes/{path}`.
//!
//! Order of checks: API key (middleware), a free invocation slot (else 503 with
//! `Retry-After`), the body cap (413), the route exists and is declared `api_key` (an
//! `internal` route answers 403), then the guest runs through `Services::invoke`.
//!
//! Owns: turning the HTTP request into a `RouteRequest` and the route's answer (or the
//! runtime's failure, with its invocation id) into the HTTP response.
//! Must not: forward the caller's `Authorization` or cookies to the guest, or wait for a
//! slot (a full server answers at once).

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::metrics::Denial;
use crate::runtime::{Method, RouteAuth, RouteRequest};

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

pub async fn invoke(
    State(state): State<Arc<AppState>>,
    Path((name, path)): Path<(String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    let Ok(slot) = state.slots.clone().try_acquire_owned() else {
        state.metrics.deny(Denial::Overloaded);
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "all {} invocation slots are busy; retry shortly",
                state.config.limits.max_concurrent
            ),
        )
        .retry_after(1));
    };
    let method = method_of(req.method())?;
    let route_path = format!("/{path}");
    let query = query_pairs(req.uri().query());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter(|(k, _)| FORWARDED.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let limit = state.config.limits.max_body;
    let body: Bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| {
            state.metrics.deny(Denial::BodyTooLarge);
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is over the {limit}-byte cap"),
            )
        })?;

    let record = state.services.store.connection_by_name(&name)?;
    let connector = state.services.connector(&record.connector).await?;
    let route = connector
        .component
        .find_route(method, &route_path)
        .map_err(|e| ApiError::from_anyhow(e.into()))?;
    if route.auth != RouteAuth::ApiKey {
        state.metrics.deny(Denial::InternalRoute);
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "internal_route",
            format!("{method} {route_path} is an internal route; only the host calls it"),
        ));
    }
    let route_label = format!("{method} {route_path}");
    let connector_key = connector.connector().key().to_string();
    let request = RouteRequest {
        method,
        path: route_path,
        query,
        headers,
        body: body.to_vec(),
    };
    let in_flight = state.metrics.in_flight();
    let services = state.services.clone();
    let (outcome, seconds) = state
        .on_guests(async move {
            // The slot and the in-flight count are held until the guest is done, even if
            // the caller hangs up.
            let _slot = slot;
            let _in_flight = in_flight;
            let started = Instant::now();
            let outcome = services.invoke_resolved(&record, &connector, request).await;
            (outcome, started.elapsed().as_secs_f64())
        })
        .await?;
    match outcome {
        Ok(res) => {
            state.metrics.invocation(
                &connector_key,
                &route_label,
                &res.status.to_string(),
                seconds,
                &res.calls,
            );
            let status = StatusCode::from_u16(res.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = Response::builder().status(status);
            for (k, v) in &res.headers {
                if let (Ok(k), Ok(v)) = (
                    HeaderName::try_from(k.as_str()),
                    HeaderValue::try_from(v.as_str()),
                ) {
                    response = response.header(k, v);
                }
            }
            response = response.header("x-keyway-invocation-id", res.invocation_id.as_str());
            response.body(Body::from(res.body)).map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("building the response: {e}"),
                )
            })
        }
        Err(e) => {
            let error = ApiError::from_anyhow(e);
            state
                .metrics
                .invocation(&connector_key, &route_label, error.code, seconds, &[]);
            tracing::warn!(
                connection = %name,
                route = %route_label,
                code = error.code,
                invocation_id = error.invocation_id.as_deref().unwrap_or("-"),
                "invocation failed"
            );
            Ok(error.into_response())
        }
    }
}
