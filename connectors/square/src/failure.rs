//! What a route answers when Square does not answer with success: the SDK's
//! `ProviderFailure`, told where Square's error codes are (`errors[].code`) and that a 403
//! naming `INSUFFICIENT_SCOPES` is a missing scope. Must not copy response bodies beyond
//! Square's error codes (its `detail` may echo request data) and must not retry.

use keyway_sdk::api::{Failure, ProviderError};
use keyway_sdk::{HttpResponse, ProviderFailure};
use serde_json::Value;

/// The failure for a non-2xx answer from Square while doing `action`. `progress` (what a
/// sync stored before the failure) is added to the details when given.
pub fn provider_failure(res: &HttpResponse, action: &str, progress: Option<Value>) -> Failure {
    let codes = ProviderFailure::codes_at(res, &["/errors/*/code"]);
    let scope = codes.iter().any(|c| c == "INSUFFICIENT_SCOPES");
    ProviderFailure::new("Square", res, action)
        .codes(codes)
        .scope_error(scope)
        .progress(progress)
        .failure()
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
