//! What a route answers when Square does not answer with success. A 401 that survived
//! the host's forced refresh and retry is `reauth_required`; a 403 naming
//! `INSUFFICIENT_SCOPES` is `missing_scopes`; a 429 is a `provider_error` carrying the
//! `Retry-After` hint; anything else is a `provider_error` with Square's status and error
//! code. Must not copy response bodies beyond Square's error code (its `detail` may echo
//! request data) and must not retry.

use keyway_sdk::{Error, ErrorCode, HttpResponse, Response, api};
use serde_json::{Value, json};

/// Why a route stops: a host error (answered by the SDK's mapping, e.g. 401 for
/// `reauth_required`) or a finished error response.
pub enum Failure {
    Host(Error),
    Answer(Response),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Host(e)
    }
}

/// Turns a route's outcome into what the SDK expects from a handler.
pub fn finish(result: Result<Response, Failure>) -> Result<Response, Error> {
    match result {
        Ok(response) | Err(Failure::Answer(response)) => Ok(response),
        Err(Failure::Host(e)) => Err(e),
    }
}

/// The first `errors[].code` of a Square error body, if it has one.
fn square_error_code(res: &HttpResponse) -> Option<String> {
    let body: Value = serde_json::from_slice(&res.body).ok()?;
    body.get("errors")?
        .as_array()?
        .iter()
        .find_map(|e| e.get("code")?.as_str().map(str::to_string))
}

/// The failure for a non-2xx answer from Square while doing `action`. `progress` (what a
/// sync stored before the failure) is added to the details when given.
pub fn provider_failure(res: &HttpResponse, action: &str, progress: Option<Value>) -> Failure {
    let code = square_error_code(res);
    if res.status == 401 {
        return Failure::Host(Error::new(
            ErrorCode::ReauthRequired,
            format!(
                "Square rejected the connection's token while {action}, even after a refresh; authorize the connection again"
            ),
        ));
    }
    if res.status == 403 && code.as_deref() == Some("INSUFFICIENT_SCOPES") {
        return Failure::Host(Error::new(
            ErrorCode::MissingScopes,
            format!(
                "Square says the connection's token lacks a permission needed for {action}; authorize the connection again with every scope of the manifest"
            ),
        ));
    }
    let mut details = json!({ "providerStatus": res.status });
    if let Some(code) = &code {
        details["providerCode"] = Value::from(code.as_str());
    }
    let mut retry_after_seconds = None;
    let message = if res.status == 429 {
        if let Some(hint) = res.header("retry-after").map(str::trim) {
            details["retryAfter"] = Value::from(hint);
            retry_after_seconds = hint.parse::<u64>().ok();
            if let Some(seconds) = retry_after_seconds {
                details["retryAfterSeconds"] = Value::from(seconds);
            }
        }
        format!("Square is rate limiting this connection while {action}; retry later")
    } else {
        format!("Square answered HTTP {} while {action}", res.status)
    };
    if let Some(progress) = progress {
        details["progress"] = progress;
    }
    Failure::Answer(error_response(&message, details, retry_after_seconds))
}

/// The failure for a 2xx answer whose body is not what Square documents.
pub fn malformed(action: &str, reason: &str, progress: Option<Value>) -> Failure {
    let mut details = json!({ "reason": reason });
    if let Some(progress) = progress {
        details["progress"] = progress;
    }
    Failure::Answer(error_response(
        &format!("Square's answer while {action} is not the expected JSON"),
        details,
        None,
    ))
}

fn error_response(message: &str, details: Value, retry_after_seconds: Option<u64>) -> Response {
    let body = json!({
        "error": { "code": "provider_error", "message": message, "details": details }
    });
    let response = api::json_status(502, &body);
    match retry_after_seconds {
        Some(seconds) => response.with_header("retry-after", seconds.to_string()),
        None => response,
    }
}
