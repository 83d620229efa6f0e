//! Request bodies: read whole within the body read timeout and a size cap, and JSON
//! parsed with errors that name the field and position, never the value.
//!
//! Owns: [`read`] (every handler that reads a body goes through it), [`parse_json`] and
//! the [`Json`] extractor of the management API.
//! Must not: quote any part of a body in an error (a rejected value may be a secret), or
//! wait for a body longer than the timeout.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::error::Category;

use super::AppState;
use super::error::ApiError;
use super::metrics::Denial;

/// Largest management API body.
pub(crate) const ADMIN_BODY_CAP: usize = 2 << 20;

/// Reads `body` whole: 408 when it takes longer than the body read timeout, 413 over
/// `limit` bytes, 400 when the caller broke off.
pub async fn read(
    state: &AppState,
    body: axum::body::Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let timeout = state.config.limits.body_read_timeout;
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if over_limit(&e) => {
            state.metrics.deny(Denial::BodyTooLarge);
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is over the {limit}-byte cap"),
            ))
        }
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "body_unreadable",
            "the request body ended before it was complete",
        )),
        Err(_) => {
            state.metrics.deny(Denial::BodyTimeout);
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} seconds",
                    timeout.as_secs()
                ),
            ))
        }
    }
}

fn over_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Parses a JSON body into `T`. An error names where (the field's path, line and column)
/// and what kind of problem it is, never the value found there.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            describe(&path, e.inner()),
        )
    })?;
    de.end()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", describe(".", &e)))?;
    Ok(value)
}

fn describe(path: &str, e: &serde_json::Error) -> String {
    let at = format!("line {}, column {}", e.line(), e.column());
    match e.classify() {
        Category::Syntax => format!("the body is not valid JSON (at {at})"),
        Category::Eof => format!("the body ends before its JSON does (at {at})"),
        Category::Io => "the body could not be read".to_string(),
        Category::Data => {
            let what = what_was_wrong(&e.to_string());
            if path == "." || path.is_empty() {
                format!("the body {what} (at {at})")
            } else {
                format!("{path}: {what} (at {at})")
            }
        }
    }
}

/// The kind of a serde data error, with the expectation (which comes from the target
/// type) but without the value serde quotes in its message.
fn what_was_wrong(message: &str) -> String {
    // serde_json appends " at line L column C"; serde's own text comes before it.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(text, _)| text);
    // `invalid type: <found>, expected <what the type takes>`: the value is in <found>,
    // which comes first, so the last ", expected " is serde's own.
    let expected = message
        .rsplit_once(", expected ")
        .map(|(_, exp)| exp)
        .filter(|exp| plain(exp))
        .map(|exp| format!(", expected {exp}"))
        .unwrap_or_default();
    for (prefix, kind) in [
        ("invalid type", "has the wrong type"),
        ("invalid value", "has a value it does not take"),
        ("invalid length", "has the wrong length"),
        ("unknown variant", "is not one of the values it takes"),
    ] {
        if message.starts_with(prefix) {
            return format!("{kind}{expected}");
        }
    }
    // `missing field `x``, `unknown field `x`, expected ...`, `duplicate field `x``: the
    // name is a key of the body, not a value; keep it if it is a plain name.
    for prefix in ["missing field `", "unknown field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((name, _)) = rest.split_once('`')
            && name.len() <= 64
            && plain(name)
        {
            return format!("{}{name}`{expected}", &prefix);
        }
    }
    "is not what this field takes".to_string()
}

/// Text made only of names, spaces and punctuation serde uses in expectations.
fn plain(text: &str) -> bool {
    text.len() <= 200
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-`,.:<>".contains(c))
}

fn is_json(headers: &HeaderMap) -> bool {
    super::answer::media_essence(headers.get(header::CONTENT_TYPE))
        .is_some_and(|essence| super::answer::is_json_essence(&essence))
}

/// A JSON body of the management API, read through [`read`] and [`parse_json`].
pub struct Json<T>(pub T);

impl<T> FromRequest<Arc<AppState>> for Json<T>
where
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_body",
                "the body must be JSON, sent with `content-type: application/json`",
            ));
        }
        let bytes = read(state, req.into_body(), ADMIN_BODY_CAP).await?;
        parse_json(&bytes).map(Json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Shape {
        name: String,
        #[serde(default)]
        secret_settings: serde_json::Map<String, serde_json::Value>,
        scopes: Option<Vec<String>>,
    }

    fn message(body: &str) -> String {
        parse_json::<Shape>(body.as_bytes()).unwrap_err().message
    }

    #[test]
    fn errors_name_the_field_and_never_the_value() {
        let canary = "canary-secret-6d1e, expected a \"thing\"";
        let body = serde_json::json!({ "name": "x", "secretSettings": canary }).to_string();
        let m = message(&body);
        assert!(
            m.starts_with("secretSettings: has the wrong type, expected a map"),
            "{m}"
        );
        assert!(m.contains("line 1, column"), "{m}");
        assert!(!m.contains("canary"), "{m}");

        let m = message(r#"{"name": 4242424242}"#);
        assert!(
            m.starts_with("name: has the wrong type, expected a string"),
            "{m}"
        );
        assert!(!m.contains("4242424242"), "{m}");

        let m = message(r#"{"name": "x", "scopes": ["ok", 7777777]}"#);
        assert!(m.starts_with("scopes[1]: has the wrong type"), "{m}");
        assert!(!m.contains("7777777"), "{m}");

        let m = message(r#"{"name": "x", "secretSetings": {}}"#);
        assert!(m.contains("unknown field `secretSetings`"), "{m}");
        let m = message(r#"{"secretSettings": {}}"#);
        assert!(m.contains("missing field `name`"), "{m}");
        let m = message(r#"{"name": "canary-secret-9f2"#);
        assert!(m.contains("ends before"), "{m}");
        assert!(!m.contains("canary"), "{m}");
        let m = message(r#"{"name": "x"} canary-trailing"#);
        assert!(m.contains("not valid JSON"), "{m}");
        assert!(!m.contains("canary"), "{m}");
    }
}
