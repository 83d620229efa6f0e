//! What a route answers when Intuit does not answer with success: a 401 that survived
//! the host's forced refresh and retry is `reauth_required`; a 429 is a provider error
//! carrying the `Retry-After` hint; anything else is a provider error with Intuit's
//! status. Must not include response bodies or headers other than `Retry-After` (they
//! may echo request data) and must not retry: the host already did.

use keyway_sdk::{Error, ErrorCode, HttpResponse, Response, api};
use serde_json::{Value, json};

/// The route's answer for a non-2xx provider response; `Err` for a 401, so the route
/// propagates it as `reauth_required`. `progress` (what a sync stored before the
/// failure) is added to the details when given.
pub fn provider_failure(
    res: &HttpResponse,
    action: &str,
    progress: Option<Value>,
) -> Result<Response, Error> {
    if res.status == 401 {
        return Err(Error::new(
            ErrorCode::ReauthRequired,
            format!(
                "Intuit rejected the connection's token while {action}, even after a refresh; authorize the connection again"
            ),
        ));
    }
    let mut details = json!({ "providerStatus": res.status });
    let message = if res.status == 429 {
        let retry_after = res.header("retry-after").map(str::trim);
        if let Some(hint) = retry_after {
            details["retryAfter"] = Value::from(hint);
            if let Ok(seconds) = hint.parse::<u64>() {
                details["retryAfterSeconds"] = Value::from(seconds);
            }
        }
        format!("Intuit is rate limiting this company while {action}; retry later")
    } else {
        format!("Intuit answered {} while {action}", res.status)
    };
    if let Some(progress) = progress {
        details["progress"] = progress;
    }
    let body =
        json!({ "error": { "code": "provider_error", "message": message, "details": details } });
    let mut response = api::json_status(502, &body);
    if let Some(seconds) = details.get("retryAfterSeconds").and_then(Value::as_u64) {
        response = response.with_header("retry-after", seconds.to_string());
    }
    Ok(response)
}
