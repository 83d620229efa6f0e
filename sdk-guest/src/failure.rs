//! One classification of a provider's non-success answer, so a connector says only what
//! is its provider's own (its name, where its error codes are, which codes mean a missing
//! scope or a rate limit) and every connector answers alike:
//!
//! - `401` (after the host's forced refresh and retry): `reauth_required`;
//! - `403` the connector marks as a scope error: `missing_scopes`;
//! - `429`, or what the connector marks as a rate limit: `provider_error` with the
//!   `Retry-After` hint passed on;
//! - anything else: `provider_error` with the provider's status and error codes.
//!
//! Every answer carries the sync's progress when given. Must not copy a provider's body
//! beyond its error codes (a body may echo request data), and must not retry.

use serde_json::Value;

use crate::api::{Failure, ProviderError};
use crate::{Error, ErrorCode, HttpResponse};

/// Longest provider error code kept, and how many are kept.
const MAX_CODE_LEN: usize = 64;
const MAX_CODES: usize = 8;

/// A provider's non-success answer, being classified. See the module documentation.
///
/// ```ignore
/// let codes = ProviderFailure::codes_at(&res, &["/errors/*/code"]);
/// let scope = res.status == 403 && codes.iter().any(|c| c == "INSUFFICIENT_SCOPES");
/// return Err(ProviderFailure::new("Square", &res, "listing orders")
///     .codes(codes)
///     .scope_error(scope)
///     .progress(Some(tally.to_json()))
///     .failure());
/// ```
#[derive(Debug, Clone)]
pub struct ProviderFailure<'a> {
    provider: &'a str,
    res: &'a HttpResponse,
    action: &'a str,
    codes: Vec<String>,
    scope_error: bool,
    rate_limited: bool,
    progress: Option<Value>,
}

impl<'a> ProviderFailure<'a> {
    /// `provider` answered `res` while the route was doing `action` (a phrase such as
    /// "listing orders").
    pub fn new(provider: &'a str, res: &'a HttpResponse, action: &'a str) -> Self {
        ProviderFailure {
            provider,
            res,
            action,
            codes: Vec::new(),
            scope_error: false,
            rate_limited: res.status == 429,
            progress: None,
        }
    }

    /// The provider's error codes for this answer, shown as `details.providerCodes`
    /// (codes longer than 64 bytes or not plain text are left out; at most 8 are kept).
    pub fn codes(mut self, codes: Vec<String>) -> Self {
        self.codes = codes
            .into_iter()
            .filter(|c| {
                !c.is_empty()
                    && c.len() <= MAX_CODE_LEN
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-:/".contains(&b))
            })
            .take(MAX_CODES)
            .collect();
        self
    }

    /// Marks a `403` as the provider saying the grant lacks a scope.
    pub fn scope_error(mut self, yes: bool) -> Self {
        self.scope_error = yes;
        self
    }

    /// Marks the answer as a rate limit besides a `429` (a provider that says so with
    /// another status or only in its body).
    pub fn rate_limited(mut self, yes: bool) -> Self {
        self.rate_limited |= yes;
        self
    }

    /// What a sync stored before this answer (`details.progress`), when given.
    pub fn progress(mut self, progress: Option<Value>) -> Self {
        self.progress = progress;
        self
    }

    /// The route's way out: a host error for `reauth_required` and `missing_scopes` (the
    /// SDK answers them 401 and 403), a finished `provider_error` answer otherwise.
    pub fn failure(self) -> Failure {
        let (provider, action) = (self.provider, self.action);
        if self.res.status == 401 {
            return Failure::Host(Error::new(
                ErrorCode::ReauthRequired,
                format!(
                    "{provider} rejected the connection's token while {action}, even after a refresh; authorize the connection again"
                ),
            ));
        }
        if self.res.status == 403 && self.scope_error {
            return Failure::Host(Error::new(
                ErrorCode::MissingScopes,
                format!(
                    "{provider} says the connection's token lacks a scope needed for {action}; authorize the connection again with every scope of the manifest"
                ),
            ));
        }
        let message = if self.rate_limited {
            format!("{provider} is rate limiting this connection while {action}; retry later")
        } else {
            format!(
                "{provider} answered HTTP {} while {action}",
                self.res.status
            )
        };
        let mut answer = ProviderError::new(message).provider_status(self.res.status);
        if !self.codes.is_empty() {
            answer = answer.detail("providerCodes", self.codes);
        }
        if self.rate_limited {
            answer = answer.retry_after(self.res);
        }
        Failure::Answer(answer.progress(self.progress).into_response())
    }

    /// The strings found in `res`'s JSON body at each of `paths`: JSON pointers in which a
    /// `*` segment stands for every element of an array (`/errors/*/code`). A body that is
    /// not JSON has none.
    pub fn codes_at(res: &HttpResponse, paths: &[&str]) -> Vec<String> {
        let Ok(body) = serde_json::from_slice::<Value>(&res.body) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for path in paths {
            let segments: Vec<&str> = path.split('/').skip(1).collect();
            collect(&body, &segments, &mut out);
        }
        out
    }
}

fn collect(value: &Value, segments: &[&str], out: &mut Vec<String>) {
    let Some((first, rest)) = segments.split_first() else {
        if let Some(s) = value.as_str() {
            out.push(s.to_string());
        }
        return;
    };
    match (*first, value) {
        ("*", Value::Array(items)) => {
            for item in items {
                collect(item, rest, out);
            }
        }
        (key, Value::Object(map)) => {
            if let Some(next) = map.get(key) {
                collect(next, rest, out);
            }
        }
        (index, Value::Array(items)) => {
            if let Some(next) = index.parse::<usize>().ok().and_then(|i| items.get(i)) {
                collect(next, rest, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(status: u16, body: Value, headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_string().into_bytes(),
        }
    }

    fn answer(f: Failure) -> (u16, Value) {
        match f {
            Failure::Answer(r) => (r.status, serde_json::from_slice(&r.body).unwrap()),
            Failure::Host(e) => panic!("a host error: {e:?}"),
        }
    }

    #[test]
    fn a_401_after_the_hosts_refresh_needs_reauthorization() {
        let r = res(401, json!({}), &[]);
        match ProviderFailure::new("Acme", &r, "listing orders").failure() {
            Failure::Host(e) => {
                assert_eq!(e.code, ErrorCode::ReauthRequired);
                assert!(
                    e.message
                        .starts_with("Acme rejected the connection's token while listing orders")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_403_is_a_missing_scope_only_when_the_connector_says_so() {
        let r = res(
            403,
            json!({ "errors": [{ "code": "INSUFFICIENT_SCOPES" }] }),
            &[],
        );
        let codes = ProviderFailure::codes_at(&r, &["/errors/*/code"]);
        assert_eq!(codes, ["INSUFFICIENT_SCOPES"]);
        match ProviderFailure::new("Acme", &r, "x")
            .codes(codes.clone())
            .scope_error(true)
            .failure()
        {
            Failure::Host(e) => assert_eq!(e.code, ErrorCode::MissingScopes),
            other => panic!("{other:?}"),
        }
        let (status, body) = answer(ProviderFailure::new("Acme", &r, "x").codes(codes).failure());
        assert_eq!(status, 502);
        assert_eq!(body["error"]["details"]["providerStatus"], 403);
        assert_eq!(
            body["error"]["details"]["providerCodes"],
            json!(["INSUFFICIENT_SCOPES"])
        );
    }

    #[test]
    fn a_rate_limit_passes_the_hint_on_with_the_progress() {
        let r = res(429, json!("slow down"), &[("Retry-After", "7")]);
        let (status, body) = answer(
            ProviderFailure::new("Acme", &r, "listing orders")
                .progress(Some(json!({ "pages": 2 })))
                .failure(),
        );
        assert_eq!(status, 502);
        let details = &body["error"]["details"];
        assert_eq!(details["retryAfterSeconds"], 7);
        assert_eq!(details["progress"]["pages"], 2);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("rate limiting")
        );
        // Marked by the connector on another status.
        let r = res(503, json!({}), &[]);
        let (_, body) = answer(
            ProviderFailure::new("Acme", &r, "x")
                .rate_limited(true)
                .failure(),
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("rate limiting")
        );
    }

    #[test]
    fn codes_are_found_by_path_and_kept_short_and_plain() {
        let r = res(
            500,
            json!({ "error": { "code": "Boom", "errors": [{ "reason": "a" }, { "reason": "b" }] } }),
            &[],
        );
        let codes =
            ProviderFailure::codes_at(&r, &["/error/code", "/error/errors/*/reason", "/nope"]);
        assert_eq!(codes, ["Boom", "a", "b"]);
        let not_json = HttpResponse {
            status: 500,
            headers: Vec::new(),
            body: b"<html>".to_vec(),
        };
        assert!(ProviderFailure::codes_at(&not_json, &["/error/code"]).is_empty());
        let (_, body) = answer(
            ProviderFailure::new("Acme", &r, "x")
                .codes(vec!["ok".into(), "x".repeat(65), "has space".into()])
                .failure(),
        );
        assert_eq!(body["error"]["details"]["providerCodes"], json!(["ok"]));
    }
}
