//! What a route answers when Google does not answer with success: a 404 is `not_found`
//! (the calendar setting), the rest the SDK's `ProviderFailure`, told where Google's
//! reason codes are, that an insufficient-scope reason on a 403 is `missing_scopes`, and
//! that a rate-limit reason (Calendar's usage limits answer 403) is a rate limit. Must not
//! copy response bodies beyond Google's reason codes and must not retry.

use keyway_sdk::api::{Failure, ProviderError};
use keyway_sdk::{Error, ErrorCode, HttpResponse, ProviderFailure};
use serde_json::Value;

/// Google's reasons for an error (`error.errors[].reason`, `error.details[].reason`).
fn google_reasons(res: &HttpResponse) -> Vec<String> {
    ProviderFailure::codes_at(res, &["/error/errors/*/reason", "/error/details/*/reason"])
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

/// The failure for a non-2xx answer from Google while doing `action`; a 404 names the
/// calendar setting, the rest is the SDK's classification with Google's reasons.
pub fn provider_failure(res: &HttpResponse, action: &str, progress: Option<Value>) -> Failure {
    if res.status == 404 {
        return Failure::Host(Error::new(
            ErrorCode::NotFound,
            format!("Google found nothing while {action}; check the calendar_id setting"),
        ));
    }
    let reasons = google_reasons(res);
    let scope = reasons.iter().any(|r| is_scope(r));
    let rate_limited = reasons.iter().any(|r| is_rate_limit(r));
    ProviderFailure::new("Google", res, action)
        .codes(reasons)
        .scope_error(scope)
        .rate_limited(rate_limited)
        .progress(progress)
        .failure()
}

/// The failure for a 2xx answer whose body is not what Google documents.
pub fn malformed(action: &str, reason: &str, progress: Option<Value>) -> Failure {
    let answer = ProviderError::new(format!(
        "Google's answer while {action} is not the expected JSON"
    ))
    .detail("reason", reason)
    .progress(progress);
    Failure::Answer(answer.into_response())
}
