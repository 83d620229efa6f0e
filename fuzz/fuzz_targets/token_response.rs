//! A token endpoint's answer, as a hostile provider may send it, read through the
//! manifest's token paths and classified.
//!
//! Input: an optional first line `<status> <config>` (HTTP status, which of the fixed
//! token-path configurations below), then the body. Without that line the whole input is
//! a 200 body for the standard paths.
//!
//! Checks, besides "no panic": a parsed token set has a non-empty access token equal to
//! the string at its configured path (likewise the refresh token and token type); its
//! `expires_in` is capped (`MAX_EXPIRES_IN`) and turns into an `expires_at` that does
//! not wrap; the manifest's `TokenPath::lookup` and the provider's `lookup` agree; only
//! 2xx answers give tokens; only `invalid_grant`, `invalid_client` and
//! `unauthorized_client` on a 4xx mean the grant is gone, and 429/5xx never do; an error
//! names a configured path or carries at most the provider's cleaned
//! `error`/`error_description` (200 printable characters each), never the rest of the
//! body.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use keyway_host::manifest::{self, Connector};
use keyway_host::oauth::classify::{Failure, classify_response, clean_text};
use keyway_host::oauth::http::RawResponse;
use keyway_host::oauth::provider::{MAX_EXPIRES_IN, ProviderConfig, TokenResponseError, lookup};
use keyway_host::oauth::{OAuthHttp, ProviderResolver, refresh};
use keyway_host::store::now_unix;
use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// Longest text `clean_text` keeps, in characters.
const CLEAN_MAX: usize = 200;

/// One token-path configuration: the manifest it came from and the provider
/// configuration the host resolves from it.
struct Config {
    connector: Connector,
    provider: ProviderConfig,
}

/// `(token block, scope separator)` of each configuration.
fn token_blocks() -> Vec<(Value, &'static str)> {
    vec![
        // The standard names.
        (json!({}), " "),
        // Nested under one object, comma-separated scopes.
        (
            json!({
                "accessTokenPath": "data.access_token",
                "refreshTokenPath": "data.refresh_token",
                "expiresInPath": "data.expires_in",
                "scopePath": "data.scope",
                "tokenTypePath": "data.token_type"
            }),
            ",",
        ),
        // Array indexes.
        (
            json!({
                "accessTokenPath": "tokens.0.value",
                "refreshTokenPath": "tokens.1.value",
                "expiresInPath": "tokens.0.ttl",
                "scopePath": "granted",
                "tokenTypePath": "kind"
            }),
            " ",
        ),
        // A user token beside the app's, as some providers answer.
        (
            json!({
                "accessTokenPath": "authed_user.access_token",
                "refreshTokenPath": "authed_user.refresh_token",
                "expiresInPath": "authed_user.expires_in",
                "scopePath": "authed_user.scope",
                "tokenTypePath": "authed_user.token_type"
            }),
            ",",
        ),
    ]
}

fn configs() -> &'static [Config] {
    static CONFIGS: OnceLock<Vec<Config>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let http = OAuthHttp::from_config(
            &keyway_host::egress::EgressConfig {
                allowed_cidrs: vec!["127.0.0.1/32".parse().expect("a CIDR")],
                ..Default::default()
            },
            Duration::from_secs(5),
        )
        .expect("an HTTP client");
        let resolver = ProviderResolver::new(http);
        // No issuer, so resolving makes no request; it is async all the same.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        token_blocks()
            .into_iter()
            .map(|(token, separator)| {
                let text = json!({
                    "key": "fuzz",
                    "name": "Fuzz",
                    "provider": "fuzz",
                    "kind": "source",
                    "version": "0.1.0",
                    "permissions": { "http": ["https://api.example.com/*"], "entities": {} },
                    "connection": {
                        "oauth": {
                            "type": "authorization_code",
                            "authorizationUrlTemplate": "https://auth.example.com/authorize",
                            "tokenUrlTemplate": "https://auth.example.com/token",
                            "scopeSeparator": separator,
                            "client": { "credentialKey": "app" },
                            "token": token
                        }
                    }
                })
                .to_string();
                let connector = manifest::parse_str(&text, "fuzz.json").expect("a valid manifest");
                let settings = connector
                    .validate_settings(&serde_json::Map::new())
                    .expect("no settings needed");
                let provider = runtime
                    .block_on(resolver.resolve(&connector, &settings))
                    .expect("a provider configuration")
                    .expect("an OAuth block");
                Config {
                    connector,
                    provider,
                }
            })
            .collect()
    })
}

/// `(status, config, body)` from the input.
fn split(data: &[u8]) -> (u16, usize, &[u8]) {
    if let Some(nl) = data.iter().position(|&b| b == b'\n')
        && let Ok(head) = std::str::from_utf8(&data[..nl])
        && let Some((status, config)) = head.split_once(' ')
        && let (Ok(status), Ok(config)) = (status.parse::<u16>(), config.parse::<usize>())
    {
        return (status, config, &data[nl + 1..]);
    }
    (200, 0, data)
}

fn assert_clean(text: &str) {
    assert!(
        text.chars().count() <= CLEAN_MAX,
        "provider text is clipped"
    );
    assert!(!text.chars().any(char::is_control), "no control characters");
    assert_eq!(text.trim(), text, "trimmed");
}

/// The provider's `error`/`error_description`, cleaned as the classifier promises.
fn oauth_field(doc: Option<&Value>, key: &str) -> Option<String> {
    doc.and_then(|d| d.get(key))
        .and_then(Value::as_str)
        .map(clean_text)
}

fn same_string(doc: &Value, path: &str, got: Option<&str>) {
    match got {
        Some(s) => {
            assert!(!s.is_empty(), "`{path}` is never an empty string");
            assert_eq!(lookup(doc, path).and_then(Value::as_str), Some(s));
        }
        None => assert!(
            matches!(lookup(doc, path), None | Some(Value::Null))
                || lookup(doc, path).and_then(Value::as_str) == Some(""),
            "`{path}` is dropped only when absent, null or empty"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let (status, index, body) = split(data);
    let all = configs();
    let config = &all[index % all.len()];
    let paths = &config.provider.token_paths;
    let doc: Option<Value> = serde_json::from_slice(body).ok();

    // The manifest's paths and the strings the provider configuration holds agree.
    if let (Some(doc), Some(oauth)) = (&doc, config.connector.oauth()) {
        let t = &oauth.token;
        for (m, p) in [
            (&t.access_token, &paths.access_token),
            (&t.refresh_token, &paths.refresh_token),
            (&t.expires_in, &paths.expires_in),
            (&t.scope, &paths.scope),
            (&t.token_type, &paths.token_type),
        ] {
            assert_eq!(m.to_string(), *p);
            assert_eq!(m.lookup(doc), lookup(doc, p), "lookup of `{p}`");
        }
    }

    let raw = RawResponse {
        status,
        retry_after: Some(Duration::from_secs(1)),
        body: body.to_vec(),
    };
    let result = classify_response(&config.provider, &raw);
    if let Err(failure) = &result {
        // However large the body, the message stays short.
        let shown = failure.to_string();
        assert!(
            shown.chars().count() <= 2 * CLEAN_MAX + 100,
            "a failure message carries at most the clipped provider text"
        );
    }
    let ok = (200..=299).contains(&status);
    let outage = status == 429 || (500..=599).contains(&status);
    match result {
        Ok(set) => {
            assert!(ok, "only a 2xx answer gives tokens");
            let doc = doc.expect("tokens come from JSON");
            assert!(doc.is_object());
            let access = set.access_token.expose_secret();
            same_string(&doc, &paths.access_token, Some(access));
            same_string(
                &doc,
                &paths.refresh_token,
                set.refresh_token.as_ref().map(|s| s.expose_secret()),
            );
            same_string(&doc, &paths.token_type, set.token_type.as_deref());
            match set.expires_in {
                Some(d) => assert!(
                    d <= MAX_EXPIRES_IN
                        && matches!(
                            lookup(&doc, &paths.expires_in),
                            Some(Value::Number(_) | Value::String(_))
                        ),
                    "a lifetime comes from a number and is capped"
                ),
                None => assert!(matches!(
                    lookup(&doc, &paths.expires_in),
                    None | Some(Value::Null)
                )),
            }
            if let Some(scopes) = &set.scopes
                && let Some(Value::String(_)) = lookup(&doc, &paths.scope)
            {
                assert!(scopes.iter().all(|s| !s.is_empty()));
            }
            let now = now_unix();
            let had_expiry = set.expires_in.is_some();
            let write = refresh::token_write(set, now);
            assert_eq!(write.expires_at.is_some(), had_expiry);
            if let Some(at) = write.expires_at {
                assert!(at >= now, "an expiry is never in the past");
            }
        }
        Err(Failure::Malformed(e)) => {
            assert!(ok, "only a 2xx answer is read through the token paths");
            let configured = [
                &paths.access_token,
                &paths.refresh_token,
                &paths.expires_in,
                &paths.scope,
                &paths.token_type,
            ];
            match &e {
                TokenResponseError::NotJson => {
                    assert!(doc.as_ref().is_none_or(|d| !d.is_object()));
                }
                TokenResponseError::Missing { path } => {
                    assert_eq!(path, &paths.access_token);
                }
                TokenResponseError::WrongType { path, .. } => {
                    assert!(configured.contains(&path), "names a configured path");
                }
            }
            assert_eq!(config.provider.parse_token_response(body).err(), Some(e));
        }
        Err(Failure::Transient {
            reason,
            retry_after,
        }) => {
            assert!(!ok);
            assert_eq!(retry_after, raw.retry_after);
            if outage {
                assert_eq!(reason, format!("HTTP {status}"), "no body text");
            } else {
                let error = oauth_field(doc.as_ref(), "error");
                assert!(matches!(
                    error.as_deref(),
                    Some("temporarily_unavailable" | "server_error")
                ));
            }
        }
        Err(Failure::GrantRevoked { error, description }) => {
            assert!(!ok && !outage, "an outage is never a revocation");
            assert!(matches!(
                error.as_str(),
                "invalid_grant" | "invalid_client" | "unauthorized_client"
            ));
            if let Some(d) = &description {
                assert_clean(d);
            }
            assert_eq!(description, oauth_field(doc.as_ref(), "error_description"));
        }
        Err(Failure::Rejected {
            status: s,
            error,
            description,
        }) => {
            assert!(!ok && !outage);
            assert_eq!(s, status);
            for text in error.iter().chain(description.iter()) {
                assert_clean(text);
            }
            assert_eq!(error, oauth_field(doc.as_ref(), "error"));
            assert_eq!(description, oauth_field(doc.as_ref(), "error_description"));
            assert!(!matches!(
                error.as_deref(),
                Some(
                    "invalid_grant"
                        | "invalid_client"
                        | "unauthorized_client"
                        | "temporarily_unavailable"
                        | "server_error"
                )
            ));
        }
        // Only the host refuses (a policy or cap on the transport); an answer the
        // provider gave is never classified so.
        Err(Failure::Refused { reason }) => {
            panic!("a provider answer was classified as refused by the host: {reason}")
        }
    }
});
