//! Response helpers with one JSON shape for every error:
//! `{"error": {"code": "...", "message": "...", "details": ...}}`, including the
//! detailed `provider_error` ([`ProviderError`]) and a route's early stop with a finished
//! answer ([`Failure`]). Must not decide what a provider's answer means.

use crate::{Error, HttpResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

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

/// A `502 provider_error` answer whose details say more than the provider's status: the
/// provider's own error codes, its `Retry-After` hint, what a sync stored before it
/// stopped. The connector decides what the failure means and words the message; this
/// builds the body and, when the provider gave a hint in whole seconds, the
/// `retry-after` header of the answer.
///
/// ```ignore
/// let answer = api::ProviderError::new("Example is rate limiting this connection; retry later")
///     .provider_status(res.status)
///     .retry_after(&res)
///     .progress(Some(tally.to_json()))
///     .into_response();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderError {
    message: String,
    details: Map<String, Value>,
    retry_after_seconds: Option<u64>,
}

impl ProviderError {
    /// A provider error with `message` and no details yet.
    pub fn new(message: impl Into<String>) -> Self {
        ProviderError {
            message: message.into(),
            details: Map::new(),
            retry_after_seconds: None,
        }
    }

    /// Adds `details.providerStatus`.
    pub fn provider_status(self, status: u16) -> Self {
        self.detail("providerStatus", status)
    }

    /// Adds (or replaces) one detail.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    /// Copies the provider's `Retry-After` header, when it sent one: `details.retryAfter`
    /// holds it as sent (trimmed), and when it is a whole number of seconds
    /// `details.retryAfterSeconds` holds that number and the answer carries the same
    /// `retry-after` header. An HTTP-date hint is passed on as text only.
    pub fn retry_after(mut self, res: &HttpResponse) -> Self {
        if let Some(hint) = res.header("retry-after").map(str::trim) {
            self = self.detail("retryAfter", hint);
            if let Ok(seconds) = hint.parse::<u64>() {
                self = self.retry_after_seconds(seconds);
            }
        }
        self
    }

    /// Sets `details.retryAfterSeconds` and the answer's `retry-after` header, for a
    /// connector that reads the provider's wait its own way.
    pub fn retry_after_seconds(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds);
        self.detail("retryAfterSeconds", seconds)
    }

    /// Adds `details.progress` (what a sync stored before the failure) when given.
    pub fn progress(self, progress: Option<Value>) -> Self {
        match progress {
            Some(progress) => self.detail("progress", progress),
            None => self,
        }
    }

    /// The `502` answer: `{"error": {"code": "provider_error", "message", "details"}}`.
    pub fn into_response(self) -> Response {
        let response = error_body(
            502,
            "provider_error",
            &self.message,
            Some(Value::Object(self.details)),
        );
        match self.retry_after_seconds {
            Some(seconds) => response.with_header("retry-after", seconds.to_string()),
            None => response,
        }
    }
}

impl From<ProviderError> for Response {
    fn from(error: ProviderError) -> Self {
        error.into_response()
    }
}

/// Why a route stops early: a host error (answered by the SDK's mapping, e.g. `401` for
/// `reauth_required`) or a finished error response.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    Host(Error),
    Answer(Response),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Host(e)
    }
}

impl From<Response> for Failure {
    fn from(response: Response) -> Self {
        Failure::Answer(response)
    }
}

/// Turns a route's outcome into what a route handler returns.
pub fn finish(result: Result<Response, Failure>) -> Result<Response, Error> {
    match result {
        Ok(response) | Err(Failure::Answer(response)) => Ok(response),
        Err(Failure::Host(e)) => Err(e),
    }
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

/// [`from_error`] with `details.progress`: what a sync stored before the host error, so
/// the caller knows it was not lost.
pub fn from_error_with_progress(err: &Error, progress: Value) -> Response {
    error_body(
        err.code.http_status(),
        err.code.as_str(),
        &err.message,
        Some(json!({ "progress": progress })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn provider_answer(status: u16, headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    fn body(response: &Response) -> Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn provider_error_carries_a_seconds_hint_in_details_and_header() {
        let res = provider_answer(429, &[("Retry-After", " 30 ")]);
        let answer = ProviderError::new("rate limited; retry later")
            .provider_status(res.status)
            .retry_after(&res)
            .progress(Some(json!({ "pages": 2 })))
            .into_response();
        assert_eq!(answer.status, 502);
        assert_eq!(
            body(&answer),
            json!({ "error": {
                "code": "provider_error",
                "message": "rate limited; retry later",
                "details": {
                    "providerStatus": 429,
                    "retryAfter": "30",
                    "retryAfterSeconds": 30,
                    "progress": { "pages": 2 },
                },
            }})
        );
        assert_eq!(header(&answer, "retry-after"), Some("30"));
        assert_eq!(header(&answer, "content-type"), Some("application/json"));
    }

    #[test]
    fn a_date_hint_is_passed_on_as_text_without_a_header() {
        let date = "Wed, 21 Oct 2026 07:28:00 GMT";
        let res = provider_answer(429, &[("retry-after", date)]);
        let answer = ProviderError::new("m")
            .provider_status(429)
            .retry_after(&res)
            .into_response();
        let details = &body(&answer)["error"]["details"];
        assert_eq!(details["retryAfter"], date);
        assert!(details.get("retryAfterSeconds").is_none());
        assert_eq!(header(&answer, "retry-after"), None);
    }

    #[test]
    fn a_wait_read_by_the_connector_sets_details_and_header() {
        let answer = ProviderError::new("throttled")
            .provider_status(429)
            .retry_after_seconds(3)
            .into_response();
        assert_eq!(
            body(&answer)["error"]["details"],
            json!({ "providerStatus": 429, "retryAfterSeconds": 3 })
        );
        assert_eq!(header(&answer, "retry-after"), Some("3"));
    }

    #[test]
    fn without_a_hint_or_progress_only_the_given_details_appear() {
        let res = provider_answer(500, &[]);
        let answer = ProviderError::new("down")
            .provider_status(res.status)
            .detail("providerCode", "INTERNAL")
            .retry_after(&res)
            .progress(None)
            .into_response();
        assert_eq!(
            body(&answer)["error"]["details"],
            json!({ "providerStatus": 500, "providerCode": "INTERNAL" })
        );
        assert_eq!(answer.headers.len(), 1);
        let plain = provider_error("down", 500);
        assert_eq!(
            ProviderError::new("down")
                .provider_status(500)
                .into_response(),
            plain
        );
    }

    #[test]
    fn finish_answers_a_finished_failure_and_passes_host_errors_on() {
        let answer = not_found("gone");
        assert_eq!(finish(Err(Failure::from(answer.clone()))).unwrap(), answer);
        let ok = json(&json!({ "ok": true }));
        assert_eq!(finish(Ok(ok.clone())).unwrap(), ok);
        let host = Error::new(ErrorCode::ReauthRequired, "authorize again");
        assert_eq!(finish(Err(Failure::from(host.clone()))).unwrap_err(), host);
    }
}
