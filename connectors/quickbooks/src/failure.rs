//! What a route answers when Intuit does not answer with success: a 401 that survived
//! the host's forced refresh and retry is `reauth_required`; a 429 is a provider error
//! carrying the `Retry-After` hint; anything else is a provider error with Intuit's
//! status. Must not include response bodies or headers other than `Retry-After` (they
//! may echo request data) and must not retry: the host already did.

use keyway_sdk::api::ProviderError;
use keyway_sdk::{Error, ErrorCode, HttpResponse, Response};
use serde_json::Value;

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
    let rate_limited = res.status == 429;
    let message = if rate_limited {
        format!("Intuit is rate limiting this company while {action}; retry later")
    } else {
        format!("Intuit answered {} while {action}", res.status)
    };
    let mut answer = ProviderError::new(message).provider_status(res.status);
    if rate_limited {
        answer = answer.retry_after(res);
    }
    Ok(answer.progress(progress).into_response())
}
