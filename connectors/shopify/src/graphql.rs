//! One GraphQL Admin API request: `POST /graphql.json` under the manifest's
//! `connection.api` base (`https://{shop}/admin/api/{version}`, the shop filled in by the
//! host from the connection's validated `shop_domain`), with the access token injected by
//! the host into `X-Shopify-Access-Token` (the route never sees it), and Shopify's answer turned into data or the response the route should
//! give: a host error keeps its code (`reauth_required`, `timeout`, ...), a 429 or a
//! `THROTTLED` error becomes a provider error carrying the retry hint, any other failure a
//! provider error naming the status.
//!
//! This module owns talking to Shopify; it must not know which records a sync writes.

use keyway_sdk::api::ProviderError;
use keyway_sdk::{Api, ApiOptions, Body, HttpResponse, Method, Response, api};
use serde_json::{Value, json};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

/// What a failed request makes the route answer.
pub type Failure = Response;

/// Runs `query` with `variables` and answers the `data` object.
pub fn query(query: &str, variables: Value) -> Result<Value, Failure> {
    let body = Body::json(&json!({ "query": query, "variables": variables }))
        .map_err(|e| api::from_error(&e))?;
    let opts = ApiOptions::default().timeout(TIMEOUT);
    let res =
        Api::send(Method::Post, "/graphql.json", body, opts).map_err(|e| api::from_error(&e))?;
    if res.status == 429 {
        return Err(rate_limited(retry_after(&res)));
    }
    if !res.ok() {
        return Err(api::provider_error(
            &format!("Shopify answered HTTP {}", res.status),
            res.status,
        ));
    }
    let doc: Value = res.json().map_err(|e| api::from_error(&e))?;
    if let Some(errors) = doc["errors"].as_array().filter(|e| !e.is_empty()) {
        if errors
            .iter()
            .any(|e| e["extensions"]["code"] == "THROTTLED")
        {
            return Err(rate_limited(None));
        }
        let messages: Vec<&str> = errors
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect();
        return Err(api::provider_error(
            &format!("Shopify reported GraphQL errors: {}", messages.join("; ")),
            res.status,
        ));
    }
    match doc.get("data") {
        Some(data) if data.is_object() => Ok(data.clone()),
        _ => Err(api::provider_error(
            "Shopify answered without a data object",
            res.status,
        )),
    }
}

/// Seconds from a `Retry-After` header given in seconds.
fn retry_after(res: &HttpResponse) -> Option<u64> {
    res.header("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| s.ceil() as u64)
}

/// `502 provider_error` for a throttled request, with the wait in the details and in a
/// `Retry-After` header when Shopify gave one.
fn rate_limited(retry_after: Option<u64>) -> Response {
    let message = match retry_after {
        Some(secs) => format!("Shopify is rate limiting this app; retry after {secs} s"),
        None => "Shopify is rate limiting this app; retry later".to_string(),
    };
    let answer = ProviderError::new(message).provider_status(429);
    match retry_after {
        Some(secs) => answer.retry_after_seconds(secs),
        None => answer.detail("retryAfterSeconds", Value::Null),
    }
    .into_response()
}
