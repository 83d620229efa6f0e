//! What a route answers when Microsoft Graph does not answer with success: a 401 that
//! survived the host's forced refresh and retry is `reauth_required`; a 429 (or a 503
//! with `Retry-After`, Graph's other throttling answer) is a provider error carrying
//! the retry hint; anything else is a provider error with Graph's status and error
//! code. Must not include response bodies (they may echo request data) and must not
//! retry: the host already did.

use keyway_sdk::api::ProviderError;
use keyway_sdk::{Error, ErrorCode, HttpResponse, Response};
use serde_json::Value;

/// The route's answer for a non-2xx Graph response; `Err` for a 401, so the route
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
                "Microsoft Graph rejected the connection's token while {action}, even after a refresh; authorize the connection again"
            ),
        ));
    }
    let throttled = res.status == 429 || (res.status == 503 && res.header("retry-after").is_some());
    let message = if throttled {
        format!("Microsoft Graph is throttling this mailbox while {action}; retry later")
    } else {
        format!("Microsoft Graph answered {} while {action}", res.status)
    };
    let mut answer = ProviderError::new(message).provider_status(res.status);
    if let Some(code) = graph_error_code(res) {
        answer = answer.detail("providerCode", code);
    }
    if throttled {
        answer = answer.retry_after(res);
    }
    Ok(answer.progress(progress).into_response())
}

/// Graph's `error.code` (for example `ErrorAccessDenied`), when it is a short token.
fn graph_error_code(res: &HttpResponse) -> Option<String> {
    let body: Value = serde_json::from_slice(&res.body).ok()?;
    let code = body.pointer("/error/code")?.as_str()?;
    (code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.'))
    .then(|| code.to_string())
}
