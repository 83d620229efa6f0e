//! What a route answers when Square does not answer with success. A 401 that survived
//! the host's forced refresh and retry is `reauth_required`; a 403 naming
//! `INSUFFICIENT_SCOPES` is `missing_scopes`; a 429 is a `provider_error` carrying the
//! `Retry-After` hint; anything else is a `provider_error` with Square's status and error
//! code. Must not copy response bodies beyond Square's error code (its `detail` may echo
//! request data) and must not retry.

use keyway_sdk::api::{Failure, ProviderError};
use keyway_sdk::{Error, ErrorCode, HttpResponse};
use serde_json::Value;

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
    let rate_limited = res.status == 429;
    let message = if rate_limited {
        format!("Square is rate limiting this connection while {action}; retry later")
    } else {
        format!("Square answered HTTP {} while {action}", res.status)
    };
    let mut answer = ProviderError::new(message).provider_status(res.status);
    if let Some(code) = code {
        answer = answer.detail("providerCode", code);
    }
    if rate_limited {
        answer = answer.retry_after(res);
    }
    Failure::Answer(answer.progress(progress).into_response())
}

/// The failure for a 2xx answer whose body is not what Square documents.
pub fn malformed(action: &str, reason: &str, progress: Option<Value>) -> Failure {
    let answer = ProviderError::new(format!(
        "Square's answer while {action} is not the expected JSON"
    ))
    .detail("reason", reason)
    .progress(progress);
    Failure::Answer(answer.into_response())
}
