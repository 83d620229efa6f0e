//! The sandbox's provider API: the account behind the grant and the shop's orders (42 to
//! start with, more when `POST /dev/orders` places one), served oldest first in pages
//! with an opaque cursor, optionally only those updated after `updated_since`. Every
//! `/api` call needs a live access token.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::SandboxState;

/// How many orders the sandbox shop starts with.
pub(crate) const ORDER_COUNT: usize = 42;
/// Most orders `POST /dev/orders` may add in one process.
const MAX_ADDED: usize = 10_000;
const DEFAULT_PAGE: usize = 10;
const MAX_PAGE: usize = 50;

fn unauthorized(scope_missing: Option<&str>) -> Response {
    let (status, error, description) = match scope_missing {
        Some(scope) => (
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("the token lacks the scope {scope}"),
        ),
        None => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is missing, unknown, revoked or expired".to_string(),
        ),
    };
    (
        status,
        [(
            header::WWW_AUTHENTICATE,
            format!("Bearer error=\"{error}\""),
        )],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The refusal for a request without a live token carrying `scope`; `None` lets it in.
fn denial(state: &SandboxState, headers: &HeaderMap, scope: &str) -> Option<Response> {
    match state.bearer_scope(headers) {
        None => Some(unauthorized(None)),
        Some(granted) if granted.split(' ').any(|s| s == scope) => None,
        Some(_) => Some(unauthorized(Some(scope))),
    }
}

/// `GET /api/me`: the account (scope `account:read`).
pub async fn me(State(state): State<Arc<SandboxState>>, headers: HeaderMap) -> Response {
    if let Some(denied) = denial(&state, &headers, "account:read") {
        return denied;
    }
    Json(json!({
        "id": "acct_sandbox_1",
        "name": "Sandbox Coffee Co.",
        "domain": "sandbox-coffee.example",
    }))
    .into_response()
}

/// One of the first orders: created in January 2026, updated an hour apart in order.
fn order(n: usize) -> serde_json::Value {
    let items = 1 + n % 4;
    json!({
        "id": format!("ord_{n:04}"),
        "number": 1000 + n,
        "createdAt": format!("2026-01-{:02}T{:02}:00:00Z", 1 + n % 28, 8 + n % 10),
        "updatedAt": format!("2026-01-{:02}T{:02}:30:00Z", 1 + n / 24, n % 24),
        "customer": { "email": format!("customer{}@sandbox-coffee.example", n % 7) },
        "currency": "EUR",
        "totalCents": 350 * items + 25 * (n % 5),
        "items": items,
        "status": if n.is_multiple_of(9) { "refunded" } else { "paid" },
    })
}

/// Every order, oldest first: the first ones, then those placed since.
fn all_orders(state: &SandboxState) -> Vec<serde_json::Value> {
    let mut orders: Vec<_> = (0..ORDER_COUNT).map(order).collect();
    orders.extend(state.added().iter().cloned());
    orders
}

/// `POST /dev/orders`: places a new order now (no token: a development control of the
/// sandbox, on loopback). The next incremental sync picks it up.
pub async fn place_order(State(state): State<Arc<SandboxState>>) -> Response {
    let mut added = state.added();
    if added.len() >= MAX_ADDED {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({ "error": "too_many_orders", "error_description": "the sandbox keeps at most 10000 new orders" })),
        )
            .into_response();
    }
    let n = ORDER_COUNT + added.len();
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let placed = json!({
        "id": format!("ord_{n:04}"),
        "number": 1000 + n,
        "createdAt": now,
        "updatedAt": now,
        "customer": { "email": format!("customer{}@sandbox-coffee.example", n % 7) },
        "currency": "EUR",
        "totalCents": 350 + 25 * (n % 5),
        "items": 1,
        "status": "paid",
    });
    added.push(placed.clone());
    (StatusCode::CREATED, Json(placed)).into_response()
}

/// `GET /api/orders?cursor=&limit=&updated_since=` (scope `orders:read`): orders oldest
/// first, only those updated after `updated_since` (an RFC 3339 time) when given;
/// `nextCursor` is null on the last page.
pub async fn orders(
    State(state): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(denied) = denial(&state, &headers, "orders:read") {
        return denied;
    }
    let bad = |message: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_request", "error_description": message })),
        )
            .into_response()
    };
    let mut orders = all_orders(&state);
    if let Some(since) = q.get("updated_since") {
        let Ok(since) = chrono::DateTime::parse_from_rfc3339(since) else {
            return bad("updated_since is not an RFC 3339 time");
        };
        orders.retain(|o| {
            o["updatedAt"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t > since)
        });
    }
    let total = orders.len();
    let start = match q
        .get("cursor")
        .map(|c| c.strip_prefix("c_").map(str::parse::<usize>))
    {
        None => 0,
        Some(Some(Ok(n))) if n <= total => n,
        _ => return bad("cursor is not one this API returned"),
    };
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_PAGE,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        _ => return bad("limit must be 1 to 50"),
    };
    let end = (start + limit).min(total);
    let page: Vec<_> = orders[start..end].to_vec();
    let next = (end < total).then(|| format!("c_{end}"));
    Json(json!({ "orders": page, "nextCursor": next })).into_response()
}
