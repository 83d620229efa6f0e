//! What one provider's failure becomes, through the SDK's `ProviderFailure`: a `401`
//! (after the host's refresh and retry, for the injected token) is `reauth_required`, a
//! `403` the provider says is about scopes `missing_scopes`, a `429` (or Graph's `503`
//! with `Retry-After`) a rate-limited `provider_error` with the hint, anything else a
//! `provider_error` with the provider's status and error codes. A missing or refused app
//! connection comes from the host as its own error (`not_found`, `not_permitted`,
//! `reauth_required`) and is kept as it is.
//!
//! Owns the classification and the JSON a failure takes in the merged answer. Must not
//! copy a provider's body beyond its error codes, and must not retry.

use keyway_sdk::api::{Failure, ProviderError};
use keyway_sdk::{Error, HttpResponse, ProviderFailure};
use serde_json::{Value, json};

/// The two providers of the merged profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    Microsoft,
}

impl Provider {
    pub fn label(self) -> &'static str {
        match self {
            Provider::Google => "Google",
            Provider::Microsoft => "Microsoft Graph",
        }
    }

    /// Where the provider puts its error codes.
    fn code_paths(self) -> &'static [&'static str] {
        match self {
            // userinfo answers OAuth-style `{"error": "..."}`; Google's APIs
            // `{"error": {"status", "errors": [{"reason"}]}}`.
            Provider::Google => &[
                "/error",
                "/error/status",
                "/error/errors/*/reason",
                "/error/details/*/reason",
            ],
            Provider::Microsoft => &["/error/code"],
        }
    }

    fn is_scope_code(self, code: &str) -> bool {
        match self {
            Provider::Google => matches!(
                code,
                "insufficient_scope"
                    | "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
                    | "insufficientPermissions"
            ),
            Provider::Microsoft => {
                matches!(code, "Authorization_RequestDenied" | "ErrorAccessDenied")
            }
        }
    }
}

/// The failure for `provider`'s non-2xx answer `res` while doing `action`.
pub fn provider_failure(provider: Provider, res: &HttpResponse, action: &str) -> Failure {
    let codes = ProviderFailure::codes_at(res, provider.code_paths());
    // An OAuth resource server may say so only in `WWW-Authenticate`.
    let challenge_scope = res
        .header("www-authenticate")
        .is_some_and(|h| h.contains("insufficient_scope"));
    let scope = challenge_scope || codes.iter().any(|c| provider.is_scope_code(c));
    let throttled =
        provider == Provider::Microsoft && res.status == 503 && res.header("retry-after").is_some();
    ProviderFailure::new(provider.label(), res, action)
        .codes(codes)
        .scope_error(scope)
        .rate_limited(throttled)
        .failure()
}

/// The failure for a 2xx answer whose body is not the profile the provider documents.
pub fn malformed(provider: Provider, action: &str, reason: &str) -> Failure {
    Failure::Answer(
        ProviderError::new(format!(
            "{}'s answer while {action} is not the expected JSON",
            provider.label()
        ))
        .detail("reason", reason)
        .into_response(),
    )
}

/// A failure as the merged answer shows it: `{"code", "message", "status", "details"?}`,
/// `status` being what the route would answer for it alone.
pub fn to_json(failure: &Failure) -> Value {
    match failure {
        Failure::Host(e) => host_error(e),
        Failure::Answer(res) => {
            let body: Value = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
            let error = &body["error"];
            let mut out = json!({
                "code": error["code"].as_str().unwrap_or("provider_error"),
                "message": error["message"].as_str().unwrap_or_default(),
                "status": res.status,
            });
            if error["details"].is_object() {
                out["details"] = error["details"].clone();
            }
            out
        }
    }
}

fn host_error(e: &Error) -> Value {
    json!({
        "code": e.code.as_str(),
        "message": e.message,
        "status": e.code.http_status(),
    })
}
