//! Response helpers with one JSON shape for every error:
//! `{"error": {"code": "...", "message": "...", "details": ...}}`.

use crate::{Error, Response};
use serde::Serialize;
use serde_json::{Value, json};

fn json_bytes<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serializing a `Serialize` value to a Vec fails only for maps with non-string keys;
    // answer with a clear 500 body rather than panic inside the guest.
    serde_json::to_vec(value).unwrap_or_else(|e| {
        serde_json::to_vec(&json!({
            "error": { "code": "internal", "message": format!("response is not JSON: {e}") }
        }))
        .unwrap_or_default()
    })
}

/// `200` with `value` as JSON.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Response {
    json_status(200, value)
}

/// `status` with `value` as JSON.
pub fn json_status<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
    Response::new(status, json_bytes(value)).with_header("content-type", "application/json")
}

fn error_body(status: u16, code: &str, message: &str, details: Option<Value>) -> Response {
    let mut error = json!({ "code": code, "message": message });
    if let Some(details) = details {
        error["details"] = details;
    }
    json_status(status, &json!({ "error": error }))
}

/// `400 bad_request`.
pub fn bad_request(message: &str) -> Response {
    error_body(400, "bad_request", message, None)
}

/// `400 bad_request` with structured details.
pub fn bad_request_with(message: &str, details: Value) -> Response {
    error_body(400, "bad_request", message, Some(details))
}

/// `401 unauthorized`.
pub fn unauthorized(message: &str) -> Response {
    error_body(401, "unauthorized", message, None)
}

/// `403 forbidden`.
pub fn forbidden(message: &str) -> Response {
    error_body(403, "forbidden", message, None)
}

/// `404 not_found`.
pub fn not_found(message: &str) -> Response {
    error_body(404, "not_found", message, None)
}

/// An error with any status (`500` is typical); the code is `error`.
pub fn error(message: &str, status: u16) -> Response {
    error_body(status, "error", message, None)
}

/// `502 provider_error`: the provider answered `provider_status` where the route needed
/// success.
pub fn provider_error(message: &str, provider_status: u16) -> Response {
    error_body(
        502,
        "provider_error",
        message,
        Some(json!({ "providerStatus": provider_status })),
    )
}

/// The response a route gives when a host call fails and the route returns the error
/// with `?`: the status follows the code (`reauth_required` is 401, `missing_scopes` 403,
/// `provider_unavailable` 503, ...).
pub fn from_error(err: &Error) -> Response {
    error_body(
        err.code.http_status(),
        err.code.as_str(),
        &err.message,
        None,
    )
}
