//! What a route answers when Intuit does not answer with success: the SDK's
//! `ProviderFailure` (a 401 that survived the host's forced refresh and retry is
//! `reauth_required`; a 429 is a provider error carrying the `Retry-After` hint; anything
//! else is a provider error with Intuit's status). Must not include response bodies or headers other than `Retry-After` (they
//! may echo request data) and must not retry: the host already did.

use keyway_sdk::{Error, HttpResponse, ProviderFailure, Response, api};
use serde_json::Value;

/// The answer for a non-2xx answer from Intuit while doing `action`: the SDK's
/// classification (a host error for `reauth_required`, a `provider_error` answer with the
/// rate-limit hint otherwise), with `progress` when given.
pub fn provider_failure(
    res: &HttpResponse,
    action: &str,
    progress: Option<Value>,
) -> Result<Response, Error> {
    api::finish(Err(ProviderFailure::new("Intuit", res, action)
        .progress(progress)
        .failure()))
}
