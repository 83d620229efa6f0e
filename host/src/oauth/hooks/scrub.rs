//! A provider's token answer made safe for `credentials-from-token-response`: every
//! value that is or may be a secret is replaced with [`MARKER`] before the guest sees it.
//! A hook needs the answer's shape (keys, types, plain words such as `Bearer` or a
//! scope list), not its secrets: it names fields by path and the host reads the values
//! from the real answer.
//!
//! Replaced, anywhere in the JSON:
//! - the values at the manifest's token paths (`token.accessTokenPath`,
//!   `token.refreshTokenPath`);
//! - every string under a key that names a credential (containing `token`, `secret`,
//!   `password`, `assertion`, `jwt`, `refresh`, `access`, `bearer`, `credential`, `code`,
//!   `verifier` or `key`; `token_type` and lifetimes excepted);
//! - every string that contains one of the exchange's secrets (client secret, code,
//!   verifier, refresh token);
//! - every opaque string: [`OPAQUE_MIN`] bytes or more of token characters (letters,
//!   digits and `-._~+/=`) with no space, which is what tokens, JWTs and keys look like.
//!   A long identifier is masked too; the hook can still name it by path.
//!
//! A key that contains a secret is replaced as well. Numbers, booleans, short words and
//! text with spaces or other punctuation (a URL) stay. The exchange then checks that no
//! token it reads was shown (`exchange.rs`).
//!
//! Owns: `scrub_answer`.
//! Must not: change the real answer (the host reads tokens from it, not from this).

use serde_json::{Map, Value};

use crate::oauth::provider::TokenPaths;

/// What a secret is replaced with.
pub const MARKER: &str = "[secret]";

/// The shortest string masked for its looks alone.
pub const OPAQUE_MIN: usize = 16;

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
    [
        "token",
        "secret",
        "password",
        "assertion",
        "jwt",
        "refresh",
        "access",
        "bearer",
        "credential",
        "code",
        "verifier",
        "key",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// Long, spaceless, made of token characters: a token, a JWT, a key.
fn looks_opaque(s: &str) -> bool {
    s.len() >= OPAQUE_MIN
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
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
    scrub(&mut value, &secrets, false);
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
    looks_opaque(s) || secrets.iter().any(|secret| s.contains(secret))
}

/// Scrubs `value`; under a credential's key (`masked`) every string is replaced.
fn scrub(value: &mut Value, secrets: &[&str], masked: bool) {
    match value {
        Value::String(s) if masked || holds_secret(s, secrets) => {
            *s = MARKER.into();
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, secrets, masked)),
        Value::Object(map) => {
            let old = std::mem::take(map);
            let mut clean = Map::new();
            for (i, (key, mut v)) in old.into_iter().enumerate() {
                let key = if holds_secret(&key, secrets) {
                    format!("{MARKER}{i}")
                } else {
                    key
                };
                scrub(&mut v, secrets, masked || secret_key(&key));
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
            "client":{"secret":"s"},"jwt":"x","note":"eyJh.eyJi.sig-long-enough","code-canary-3":1,
            "custom":{"tok":"hidden-at"},"refresh":"Mk5Fz1_J5fz2-2Q2eePkbeBJ1a5V",
            "opaque":"tlcwDOZg8VVGBolLgeqLNR0B1A2pw","url":"https://acme.example.test/x",
            "auth":{"refresh":{"value":"short-rt"}},"granted":"openid profile"
        }"#;
        let paths = TokenPaths {
            access_token: "custom.tok".into(),
            ..TokenPaths::default()
        };
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
            "Mk5Fz1_J5fz2",
            "tlcwDOZg8VVG",
            "short-rt",
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
        assert_eq!(v["url"], "https://acme.example.test/x");
        assert_eq!(v["granted"], "openid profile");
        assert_eq!(v["auth"]["refresh"]["value"], MARKER);
    }

    #[test]
    fn not_json_is_refused() {
        assert_eq!(
            scrub_answer(b"<html>", &TokenPaths::default(), &[]),
            Err(ScrubError::NotJson)
        );
    }
}
