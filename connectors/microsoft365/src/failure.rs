//! What a route answers when Microsoft Graph does not answer with success, through the
//! SDK's `ProviderFailure`: a 401 that survived the host's forced refresh and retry is
//! `reauth_required`; a 429 (or a 503
//! with `Retry-After`, Graph's other throttling answer) is a provider error carrying
//! the retry hint; anything else is a provider error with Graph's status and error
//! code. Must not include response bodies (they may echo request data) and must not
//! retry: the host already did.

use keyway_sdk::{Error, HttpResponse, ProviderFailure, Response, api};
use serde_json::Value;

/// The answer for a non-2xx answer from Microsoft Graph while doing `action`: the SDK's
/// classification with Graph's `error.code`, a 503 with `Retry-After` counted as
/// throttling as a 429 is, and `progress` when given.
pub fn provider_failure(
    res: &HttpResponse,
    action: &str,
    progress: Option<Value>,
) -> Result<Response, Error> {
    let throttled = res.status == 503 && res.header("retry-after").is_some();
    api::finish(Err(ProviderFailure::new("Microsoft Graph", res, action)
        .codes(ProviderFailure::codes_at(res, &["/error/code"]))
        .rate_limited(throttled)
        .progress(progress)
        .failure()))
}
