//! The server's error answers: JSON `{ "error": { "code", "message" } }` with the right
//! status, plus `invocationId` when a route invocation failed and `Retry-After` when the
//! caller should come back later.
//!
//! Owns: [`ApiError`] and the one mapping from [`ServiceError`] to a status and code.
//! Must not: put a secret, a token or a request body into a message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::services::{Kind, ServiceError};

#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub invocation_id: Option<String>,
    pub retry_after_secs: Option<u64>,
    /// A 401 for a missing or wrong bearer key says how to authenticate
    /// (`WWW-Authenticate: Bearer`); a webhook refused for its signature does not.
    pub bearer_challenge: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            invocation_id: None,
            retry_after_secs: None,
            bearer_challenge: status == StatusCode::UNAUTHORIZED,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }
}

/// What a busy answer asks the caller to wait before trying again.
const BUSY_RETRY_AFTER_SECS: u64 = 60;

/// The one mapping from a use case's failure to an answer: its kind gives the status (a
/// route failure keeps the status it asks for), its code and message pass through, and a
/// failed invocation carries its id.
impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = match (e.route_status(), e.kind()) {
            (Some(route), _) => {
                StatusCode::from_u16(route).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            (None, Kind::Invalid) => StatusCode::BAD_REQUEST,
            (None, Kind::Refused) => StatusCode::UNAUTHORIZED,
            (None, Kind::NotFound) => StatusCode::NOT_FOUND,
            (None, Kind::Conflict) => StatusCode::CONFLICT,
            (None, Kind::Upstream) => StatusCode::BAD_GATEWAY,
            (None, Kind::Internal) => StatusCode::INTERNAL_SERVER_ERROR,
            (None, Kind::Busy) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let message = match &e {
            ServiceError::SecretAsPlain { name } => {
                format!("settings.{name}: `{name}` is a secret setting; send it in secretSettings")
            }
            other => other.to_string(),
        };
        ApiError {
            invocation_id: e.invocation_id().map(str::to_string),
            bearer_challenge: status == StatusCode::UNAUTHORIZED && e.kind() != Kind::Refused,
            retry_after_secs: (e.kind() == Kind::Busy).then_some(BUSY_RETRY_AFTER_SECS),
            ..ApiError::new(status, e.code(), message)
        }
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
        if self.bearer_challenge {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_or_wrong_key_is_challenged() {
        let key = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "no key").into_response();
        assert_eq!(key.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let refused = ApiError::from(ServiceError::WebhookRefused {
            webhook: "orders".into(),
            reason: crate::webhooks::VerifyError::BadSignature,
        })
        .into_response();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(refused.headers().get(header::WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn a_full_webhook_queue_is_a_503_with_a_retry_hint() {
        let full = ApiError::from(ServiceError::QueueFull {
            webhook: "orders".into(),
            waiting: 1000,
            waiting_bytes: 4096,
        })
        .into_response();
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            full.headers()[header::RETRY_AFTER],
            BUSY_RETRY_AFTER_SECS.to_string().as_str()
        );
    }
}
