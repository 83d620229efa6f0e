//! What a route answers when Google does not answer with success. A 401 that survived
//! the host's forced refresh and retry is `reauth_required`; a 403 whose reason is an
//! insufficient scope is `missing_scopes`; a 429, or a 403 whose reason is a rate limit
//! (Calendar's usage limits answer 403), is a `provider_error` carrying the
//! `Retry-After` hint when Google sent one; a 404 is `not_found`; anything else is a
//! `provider_error` with Google's status and reason. Must not copy response bodies
//! beyond Google's reason codes and must not retry.

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

/// Every reason code in a Google error body: `error.errors[].reason` and
/// `error.details[].reason`.
fn google_reasons(res: &HttpResponse) -> Vec<String> {
    let Ok(body) = serde_json::from_slice::<Value>(&res.body) else {
        return Vec::new();
    };
    let error = &body["error"];
    ["errors", "details"]
        .iter()
        .filter_map(|list| error[*list].as_array())
        .flatten()
        .filter_map(|e| e["reason"].as_str().map(str::to_string))
        .collect()
}

fn is_rate_limit(reason: &str) -> bool {
    matches!(
        reason,
        "rateLimitExceeded" | "userRateLimitExceeded" | "RATE_LIMIT_EXCEEDED"
    )
}

fn is_scope(reason: &str) -> bool {
    matches!(
        reason,
        "insufficientPermissions" | "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    )
}

/// The failure for a non-2xx answer from Google while doing `action`. `progress` (what a
/// sync stored before the failure) is added to the details when given.
pub fn provider_failure(res: &HttpResponse, action: &str, progress: Option<Value>) -> Failure {
    let reasons = google_reasons(res);
    if res.status == 401 {
        return Failure::Host(Error::new(
            ErrorCode::ReauthRequired,
            format!(
                "Google rejected the connection's token while {action}, even after a refresh; authorize the connection again"
            ),
        ));
    }
    if res.status == 403 && reasons.iter().any(|r| is_scope(r)) {
        return Failure::Host(Error::new(
            ErrorCode::MissingScopes,
            format!(
                "Google says the connection's token lacks a scope needed for {action}; authorize the connection again with every scope of the manifest"
            ),
        ));
    }
    if res.status == 404 {
        return Failure::Host(Error::new(
            ErrorCode::NotFound,
            format!("Google found nothing while {action}; check the calendar_id setting"),
        ));
    }
    let mut details = json!({ "providerStatus": res.status });
    if !reasons.is_empty() {
        details["providerReasons"] = json!(reasons);
    }
    let rate_limited = res.status == 429 || reasons.iter().any(|r| is_rate_limit(r));
    let mut retry_after_seconds = None;
    let message = if rate_limited {
        if let Some(hint) = res.header("retry-after").map(str::trim) {
            details["retryAfter"] = Value::from(hint);
            retry_after_seconds = hint.parse::<u64>().ok();
            if let Some(seconds) = retry_after_seconds {
                details["retryAfterSeconds"] = Value::from(seconds);
            }
        }
        format!("Google is rate limiting this connection while {action}; retry later")
    } else {
        format!("Google answered HTTP {} while {action}", res.status)
    };
    if let Some(progress) = progress {
        details["progress"] = progress;
    }
    Failure::Answer(error_response(&message, details, retry_after_seconds))
}

/// The failure for a 2xx answer whose body is not what Google documents.
pub fn malformed(action: &str, reason: &str, progress: Option<Value>) -> Failure {
    let mut details = json!({ "reason": reason });
    if let Some(progress) = progress {
        details["progress"] = progress;
    }
    Failure::Answer(error_response(
        &format!("Google's answer while {action} is not the expected JSON"),
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
