//! The sandbox's provider API: the account behind the grant and a fixed list of orders,
//! served in pages with an opaque cursor. Every call needs a live access token.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::SandboxState;

/// How many orders the sandbox shop has.
pub(crate) const ORDER_COUNT: usize = 42;
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

fn order(n: usize) -> serde_json::Value {
    let items = 1 + n % 4;
    json!({
        "id": format!("ord_{n:04}"),
        "number": 1000 + n,
        "createdAt": format!("2026-01-{:02}T{:02}:00:00Z", 1 + n % 28, 8 + n % 10),
        "customer": { "email": format!("customer{}@sandbox-coffee.example", n % 7) },
        "currency": "EUR",
        "totalCents": 350 * items + 25 * (n % 5),
        "items": items,
        "status": if n.is_multiple_of(9) { "refunded" } else { "paid" },
    })
}

/// `GET /api/orders?cursor=&limit=` (scope `orders:read`): orders oldest first;
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
    let start = match q
        .get("cursor")
        .map(|c| c.strip_prefix("c_").map(str::parse::<usize>))
    {
        None => 0,
        Some(Some(Ok(n))) if n <= ORDER_COUNT => n,
        _ => return bad("cursor is not one this API returned"),
    };
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_PAGE,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        _ => return bad("limit must be 1 to 50"),
    };
    let end = (start + limit).min(ORDER_COUNT);
    let page: Vec<_> = (start..end).map(order).collect();
    let next = (end < ORDER_COUNT).then(|| format!("c_{end}"));
    Json(json!({ "orders": page, "nextCursor": next })).into_response()
}
