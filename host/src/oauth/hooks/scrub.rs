//! A provider's token answer made safe for `credentials-from-token-response`: every
//! value that is or may be a secret is replaced with [`MARKER`] before the guest sees it.
//!
//! Replaced, anywhere in the JSON: the value of a key that names a token or secret
//! (`access_token`, `refresh_token`, `id_token`, and any key containing `token`,
//! `secret`, `password`, `assertion` or `jwt`, except `token_type` and `expires_in`-like
//! lifetimes), the values at the manifest's token paths, every string that contains one
//! of the exchange's secrets (client secret, code, verifier, refresh token), and every
//! string that looks like a JWT. A key that contains a secret is replaced as well.
//! Numbers, booleans and other strings stay, so the guest can find the paths.
//!
//! Owns: `scrub_answer`.
//! Must not: change the real answer (the host reads tokens from it, not from this).

use serde_json::{Map, Value};

use crate::oauth::provider::TokenPaths;

/// What a secret is replaced with.
pub const MARKER: &str = "[secret]";

/// Why an answer cannot be shown to the hook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrubError {
    #[error("the token answer is not JSON")]
    NotJson,
}

fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_'], "");
    if k == "tokentype" || k.starts_with("expires") || k.ends_with("expiresin") {
        return false;
    }
    ["token", "secret", "password", "assertion", "jwt"]
        .iter()
        .any(|w| k.contains(w))
}

/// Three dot-separated base64url segments, the first a JSON header (`eyJ`).
fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && s.starts_with("eyJ")
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

/// The answer `body` as JSON text with every secret replaced (see the module header).
/// `secrets` are the exchange's own (values shorter than four bytes are ignored).
pub fn scrub_answer(
    body: &[u8],
    paths: &TokenPaths,
    secrets: &[String],
) -> Result<String, ScrubError> {
    let mut value: Value = serde_json::from_slice(body).map_err(|_| ScrubError::NotJson)?;
    let secrets: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| s.len() >= crate::redact::MIN_SECRET_LEN)
        .collect();
    for path in [&paths.access_token, &paths.refresh_token] {
        if let Some(v) = lookup_mut(&mut value, path) {
            *v = Value::String(MARKER.into());
        }
    }
    scrub(&mut value, &secrets);
    serde_json::to_string(&value).map_err(|_| ScrubError::NotJson)
}

fn lookup_mut<'v>(value: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    path.split('.').try_fold(value, |v, part| match v {
        Value::Object(map) => map.get_mut(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    })
}

fn holds_secret(s: &str, secrets: &[&str]) -> bool {
    looks_like_jwt(s) || secrets.iter().any(|secret| s.contains(secret))
}

fn scrub(value: &mut Value, secrets: &[&str]) {
    match value {
        Value::String(s) => {
            if holds_secret(s, secrets) {
                *s = MARKER.into();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, secrets)),
        Value::Object(map) => {
            let old = std::mem::take(map);
            let mut clean = Map::new();
            for (i, (key, mut v)) in old.into_iter().enumerate() {
                let key = if holds_secret(&key, secrets) {
                    format!("{MARKER}{i}")
                } else {
                    key
                };
                if secret_key(&key) && !v.is_null() {
                    v = Value::String(MARKER.into());
                } else {
                    scrub(&mut v, secrets);
                }
                clean.insert(key, v);
            }
            *map = clean;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_known_secrets_are_replaced_anywhere() {
        let body = br#"{
            "access_token":"at-canary-1","refresh_token":"rt-canary-2","id_token":"eyJhbGciOi.eyJzdWIi.c2ln",
            "token_type":"Bearer","expires_in":3600,"scope":"a b","tenant":"t-42",
            "data":{"accessToken":"at-2","nested":["echo code-canary-3 here",{"k":"verifier-canary-4"}]},
            "client":{"secret":"s"},"jwt":"x","note":"eyJh.eyJi.sig","code-canary-3":1,
            "custom":{"tok":"hidden-at"}
        }"#;
        let mut paths = TokenPaths::default();
        paths.access_token = "custom.tok".into();
        let secrets = vec!["code-canary-3".to_string(), "verifier-canary-4".to_string()];
        let text = scrub_answer(body, &paths, &secrets).unwrap();
        for gone in [
            "at-canary-1",
            "rt-canary-2",
            "eyJhbGciOi",
            "at-2",
            "code-canary-3",
            "verifier-canary-4",
            "eyJh.eyJi",
            "hidden-at",
        ] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["access_token"], MARKER);
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 3600);
        assert_eq!(v["tenant"], "t-42");
        assert_eq!(v["scope"], "a b");
        assert_eq!(v["client"]["secret"], MARKER);
        assert_eq!(v["custom"]["tok"], MARKER);
    }

    #[test]
    fn not_json_is_refused() {
        assert_eq!(
            scrub_answer(b"<html>", &TokenPaths::default(), &[]),
            Err(ScrubError::NotJson)
        );
    }
}
