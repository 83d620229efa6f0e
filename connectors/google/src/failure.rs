//! What a route answers when Google does not answer with success. A 401 that survived
//! the host's forced refresh and retry is `reauth_required`; a 403 whose reason is an
//! insufficient scope is `missing_scopes`; a 429, or a 403 whose reason is a rate limit
//! (Calendar's usage limits answer 403), is a `provider_error` carrying the
//! `Retry-After` hint when Google sent one; a 404 is `not_found`; anything else is a
//! `provider_error` with Google's status and reason. Must not copy response bodies
//! beyond Google's reason codes and must not retry.

use keyway_sdk::api::{Failure, ProviderError};
use keyway_sdk::{Error, ErrorCode, HttpResponse};
use serde_json::Value;

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
    let rate_limited = res.status == 429 || reasons.iter().any(|r| is_rate_limit(r));
    let message = if rate_limited {
        format!("Google is rate limiting this connection while {action}; retry later")
    } else {
        format!("Google answered HTTP {} while {action}", res.status)
    };
    let mut answer = ProviderError::new(message).provider_status(res.status);
    if !reasons.is_empty() {
        answer = answer.detail("providerReasons", reasons);
    }
    if rate_limited {
        answer = answer.retry_after(res);
    }
    Failure::Answer(answer.progress(progress).into_response())
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
