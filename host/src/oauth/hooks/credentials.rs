//! A hook's reading of the token answer applied to the real answer: the tokens are taken
//! only from the paths it names (never from a value it gives), the lifetime, scope and
//! token type from a path or a value, and each extra field (stored as a connection
//! setting) from a path or a value, when the manifest's `settingsSchema` declares it as a
//! plain string setting and it holds no secret.
//!
//! Owns: `read_credentials` and `Hooked`.
//! Must not: put a value of the answer in an error (errors name paths and fields).

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;

use crate::oauth::provider::{MAX_EXPIRES_IN, ProviderConfig, TokenSet, lookup};
use crate::runtime::{HookCredentials, HookValue};

/// The longest path a hook may name, and the most extras it may return.
pub const MAX_PATH: usize = 256;
pub const MAX_EXTRAS: usize = 32;
/// The longest extra value stored.
pub const MAX_EXTRA_VALUE: usize = 1024;

/// Tokens read through a hook, and the extra settings to store.
#[derive(Debug, Clone)]
pub struct Hooked {
    pub tokens: TokenSet,
    pub extras: BTreeMap<String, String>,
}

/// Why a hook's reading was refused. Never carries a value of the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("the token answer is not JSON")]
    NotJson,
    #[error("`{0}` is not a usable path")]
    BadPath(String),
    #[error("the token answer has no `{path}` ({field})")]
    Missing { path: String, field: &'static str },
    #[error("the answer's `{path}` ({field}) should be {expected}")]
    WrongType {
        path: String,
        field: &'static str,
        expected: &'static str,
    },
    #[error("the expires-in value `{0}` is not a non-negative number of seconds")]
    BadExpiresIn(String),
    #[error("extra `{0}` is not a plain string setting of settingsSchema")]
    UndeclaredExtra(String),
    #[error("extra `{0}` holds a secret of this exchange and is not stored")]
    SecretExtra(String),
    #[error("extra `{0}` is over {MAX_EXTRA_VALUE} bytes")]
    LongExtra(String),
    #[error("{0} extras returned; at most {MAX_EXTRAS} are allowed")]
    TooManyExtras(usize),
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

fn checked_path(path: &str) -> Result<&str, CredentialsError> {
    if path.is_empty()
        || path.len() > MAX_PATH
        || path.split('.').any(str::is_empty)
        || path.chars().any(|c| c.is_control())
    {
        return Err(CredentialsError::BadPath(clip(path)));
    }
    Ok(path)
}

fn string_at(
    answer: &Value,
    path: &str,
    field: &'static str,
) -> Result<Option<String>, CredentialsError> {
    match lookup(answer, checked_path(path)?) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(CredentialsError::WrongType {
            path: clip(path),
            field,
            expected: "a string",
        }),
    }
}

/// A JSON value as setting text: strings as they are, numbers and booleans as JSON.
fn plain_text(
    answer: &Value,
    value: &HookValue,
    field: &'static str,
) -> Result<Option<String>, CredentialsError> {
    match value {
        HookValue::Value(v) => Ok(Some(v.clone())),
        HookValue::Path(path) => match lookup(answer, checked_path(path)?) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(_) => Err(CredentialsError::WrongType {
                path: clip(path),
                field,
                expected: "a string, number or boolean",
            }),
        },
    }
}

/// Reads `answer` (the real body) as `c` says. `extras_allowed` are the settings an
/// extra may name; `secrets` the exchange's own (an extra holding one is refused).
pub fn read_credentials(
    p: &ProviderConfig,
    answer: &[u8],
    c: &HookCredentials,
    extras_allowed: &[String],
    secrets: &[String],
) -> Result<Hooked, CredentialsError> {
    let answer: Value = serde_json::from_slice(answer).map_err(|_| CredentialsError::NotJson)?;
    let access_token = string_at(&answer, &c.access_token, "access token")?.ok_or_else(|| {
        CredentialsError::Missing {
            path: clip(&c.access_token),
            field: "access token",
        }
    })?;
    let refresh_token = match &c.refresh_token {
        Some(path) => string_at(&answer, path, "refresh token")?,
        None => None,
    };
    let expires_in = match &c.expires_in {
        None => None,
        Some(v) => match plain_text(&answer, v, "expires in")? {
            None => None,
            Some(text) => {
                let secs = text
                    .trim()
                    .trim_matches('"')
                    .parse::<f64>()
                    .ok()
                    .filter(|f| *f >= 0.0)
                    .ok_or_else(|| match v {
                        HookValue::Path(path) => CredentialsError::WrongType {
                            path: clip(path),
                            field: "expires in",
                            expected: "a non-negative number of seconds",
                        },
                        HookValue::Value(v) => CredentialsError::BadExpiresIn(clip(v)),
                    })?;
                Some(Duration::from_secs(
                    secs.min(MAX_EXPIRES_IN.as_secs() as f64) as u64,
                ))
            }
        },
    };
    let scopes = match &c.scope {
        None => None,
        Some(HookValue::Path(path)) => match lookup(&answer, checked_path(path)?) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(p.split_scopes(s)),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            ),
            Some(_) => {
                return Err(CredentialsError::WrongType {
                    path: clip(path),
                    field: "scope",
                    expected: "a string or a list of strings",
                });
            }
        },
        Some(HookValue::Value(v)) => Some(p.split_scopes(v)),
    };
    let token_type = match &c.token_type {
        None => None,
        Some(v) => plain_text(&answer, v, "token type")?.filter(|s| !s.is_empty()),
    };
    let id_token = match answer.get("id_token") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };

    // Extras: declared plain settings, never a secret of this exchange or its answer.
    if c.extras.len() > MAX_EXTRAS {
        return Err(CredentialsError::TooManyExtras(c.extras.len()));
    }
    let mut known: Vec<&str> = secrets.iter().map(String::as_str).collect();
    known.push(&access_token);
    known.extend(refresh_token.as_deref());
    known.extend(id_token.as_deref());
    known.retain(|s| s.len() >= crate::redact::MIN_SECRET_LEN);
    let mut extras = BTreeMap::new();
    for (name, value) in &c.extras {
        if !extras_allowed.contains(name) {
            return Err(CredentialsError::UndeclaredExtra(clip(name)));
        }
        let Some(text) = plain_text(&answer, value, "extra")? else {
            continue;
        };
        if known.iter().any(|s| text.contains(s)) {
            return Err(CredentialsError::SecretExtra(name.clone()));
        }
        if text.len() > MAX_EXTRA_VALUE {
            return Err(CredentialsError::LongExtra(name.clone()));
        }
        extras.insert(name.clone(), crate::oauth::classify::clean_text(&text));
    }

    Ok(Hooked {
        tokens: TokenSet {
            access_token: SecretString::from(access_token),
            refresh_token: refresh_token.map(SecretString::from),
            token_type,
            expires_in,
            scopes,
            id_token: id_token.map(SecretString::from),
        },
        extras,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::provider::GrantType;
    use secrecy::ExposeSecret;
    use url::Url;

    fn p() -> ProviderConfig {
        ProviderConfig::new(
            GrantType::AuthorizationCode,
            Url::parse("https://idp.test/token").unwrap(),
        )
    }

    fn creds() -> HookCredentials {
        HookCredentials {
            access_token: "data.at".into(),
            refresh_token: Some("data.rt".into()),
            expires_in: Some(HookValue::Path("data.ttl".into())),
            scope: Some(HookValue::Value("a b".into())),
            token_type: Some(HookValue::Value("Bearer".into())),
            extras: vec![("tenant".into(), HookValue::Path("org.tenant".into()))],
        }
    }

    const ANSWER: &[u8] =
        br#"{"data":{"at":"at-1234","rt":"rt-5678","ttl":"60"},"org":{"tenant":"acme"}}"#;

    #[test]
    fn paths_and_values_are_read_from_the_real_answer() {
        let h = read_credentials(&p(), ANSWER, &creds(), &["tenant".into()], &[]).unwrap();
        assert_eq!(h.tokens.access_token.expose_secret(), "at-1234");
        assert_eq!(h.tokens.refresh_token.unwrap().expose_secret(), "rt-5678");
        assert_eq!(h.tokens.expires_in, Some(Duration::from_secs(60)));
        assert_eq!(h.tokens.scopes.unwrap(), vec!["a", "b"]);
        assert_eq!(h.tokens.token_type.as_deref(), Some("Bearer"));
        assert_eq!(h.extras["tenant"], "acme");
    }

    #[test]
    fn an_omitted_refresh_token_is_none() {
        let body = br#"{"data":{"at":"at-1234"},"org":{}}"#;
        let h = read_credentials(&p(), body, &creds(), &["tenant".into()], &[]).unwrap();
        assert!(h.tokens.refresh_token.is_none());
        assert!(h.extras.is_empty());
    }

    #[test]
    fn bad_readings_are_refused_without_values() {
        let mut c = creds();
        c.access_token = "data.missing".into();
        let e = read_credentials(&p(), ANSWER, &c, &["tenant".into()], &[]).unwrap_err();
        assert!(matches!(e, CredentialsError::Missing { .. }));
        let e = read_credentials(&p(), ANSWER, &creds(), &[], &[]).unwrap_err();
        assert_eq!(e, CredentialsError::UndeclaredExtra("tenant".into()));
        let mut c = creds();
        c.extras = vec![("tenant".into(), HookValue::Path("data.at".into()))];
        let e = read_credentials(&p(), ANSWER, &c, &["tenant".into()], &[]).unwrap_err();
        assert_eq!(e, CredentialsError::SecretExtra("tenant".into()));
        assert!(!e.to_string().contains("at-1234"));
        let mut c = creds();
        c.extras = vec![(
            "tenant".into(),
            HookValue::Value("x-client-secret-x".into()),
        )];
        let e = read_credentials(
            &p(),
            ANSWER,
            &c,
            &["tenant".into()],
            &["client-secret".into()],
        )
        .unwrap_err();
        assert_eq!(e, CredentialsError::SecretExtra("tenant".into()));
        let mut c = creds();
        c.access_token = "data..at".into();
        assert!(matches!(
            read_credentials(&p(), ANSWER, &c, &[], &[]),
            Err(CredentialsError::BadPath(_))
        ));
        let mut c = creds();
        c.access_token = "data".into();
        assert!(matches!(
            read_credentials(&p(), ANSWER, &c, &["tenant".into()], &[]),
            Err(CredentialsError::WrongType { .. })
        ));
    }
}
