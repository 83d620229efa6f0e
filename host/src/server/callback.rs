//! `GET /oauth/callback`: where the provider sends the user back. The state names the
//! connection; the same checks as the CLI flow apply (single-use state bound to one
//! connection, PKCE verifier, provider `error=`), then the connector's `postConnect` runs.
//!
//! Owns: the answer to the browser (a short HTML page, or JSON when asked for).
//! Must not: log the query string, or echo a parameter into the page unescaped.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use super::error::ApiError;
use crate::oauth::CallbackParams;
use crate::services::ServiceError;
use crate::services::views::AuthorizedView;

pub(crate) const CALLBACK_PATH: &str = "/oauth/callback";

fn escape(text: &str) -> String {
    html_escape::encode_safe(text).into_owned()
}

fn page(status: StatusCode, title: &str, detail: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Keyway</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\
         <h1>{}</h1><p>{}</p></body></html>",
        escape(title),
        escape(detail)
    );
    (status, Html(html)).into_response()
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

pub async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let json = wants_json(&headers);
    // An authorization the console or a connect link started returns to its page.
    let back = CallbackParams::from_query(query.as_deref().unwrap_or(""))
        .ok()
        .and_then(|p| p.get("state").and_then(|s| state.take_return(s)));
    let result = async {
        let params = CallbackParams::from_query(query.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::from(ServiceError::from(e)))?;
        let done = state.services.complete_authorization(&params, None).await?;
        let mut answer = AuthorizedView::new(&done.name, &done.outcome);
        // An app connection belongs to no connector, so it has no postConnect route.
        if !done.app {
            state.post_connect(&mut answer).await?;
        }
        tracing::info!(connection = %done.name, app = done.app, "connection authorized");
        Ok::<_, ApiError>((done.name, done.outcome.missing_scopes, answer))
    }
    .await;
    match (result, json) {
        (Ok(_), false) if back.is_some() => {
            Redirect::to(back.as_deref().unwrap_or("/console")).into_response()
        }
        (Ok((_, _, answer)), true) => Json(answer).into_response(),
        (Ok((name, missing, _)), false) => {
            let detail = if missing.is_empty() {
                format!("The connection `{name}` is authorized. You can close this tab.")
            } else {
                format!(
                    "The connection `{name}` is authorized, but the provider did not grant: {}.",
                    missing.join(", ")
                )
            };
            page(StatusCode::OK, "Connected", &detail)
        }
        (Err(e), true) => e.into_response(),
        (Err(e), false) => page(e.status, "Authorization failed", &e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2F;script&gt;&amp;&quot;"
        );
    }
}
