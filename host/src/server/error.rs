//! The server's error answers: JSON `{ "error": { "code", "message" } }` with the right
//! status, plus `invocationId` when a route invocation failed and `Retry-After` when the
//! caller should come back later.
//!
//! Owns: [`ApiError`] and the mapping from library errors to statuses.
//! Must not: put a secret, a token or a request body into a message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::oauth::AuthorizeError;
use crate::runtime::InvokeError;
use crate::services::InvocationFailed;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub invocation_id: Option<String>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            invocation_id: None,
            retry_after_secs: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Maps an error from the library: known kinds get their own status, the rest are
    /// 500 with the error chain (which never holds secrets) as the message.
    pub fn from_anyhow(e: anyhow::Error) -> Self {
        if let Some(failed) = e.downcast_ref::<InvocationFailed>() {
            let status = StatusCode::from_u16(failed.http_status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return ApiError {
                invocation_id: Some(failed.invocation_id.clone()),
                ..ApiError::new(status, failed.code, failed.message.clone())
            };
        }
        if let Some(invoke) = e.downcast_ref::<InvokeError>() {
            let status = StatusCode::from_u16(invoke.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return ApiError::new(status, invoke.code(), invoke.to_string());
        }
        if let Some(auth) = e.downcast_ref::<AuthorizeError>() {
            return match auth {
                AuthorizeError::Exchange(_) => {
                    ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", auth.to_string())
                }
                AuthorizeError::Store(store) => store_error(store),
                _ => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "authorization_failed",
                    auth.to_string(),
                ),
            };
        }
        if let Some(store) = e.downcast_ref::<StoreError>() {
            return store_error(store);
        }
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{e:#}"),
        )
    }
}

fn store_error(e: &StoreError) -> ApiError {
    match e {
        StoreError::NotFound { .. } => ApiError::not_found(e.to_string()),
        StoreError::AlreadyExists { .. } => {
            ApiError::new(StatusCode::CONFLICT, "already_exists", e.to_string())
        }
        StoreError::Invalid { .. } => ApiError::bad_request(e.to_string()),
        _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::from_anyhow(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        store_error(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(id) = &self.invocation_id {
            error["invocationId"] = serde_json::Value::String(id.clone());
        }
        let mut res = (self.status, Json(serde_json::json!({ "error": error }))).into_response();
        if let Some(secs) = self.retry_after_secs {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}
