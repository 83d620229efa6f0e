//! Tests of id_token validation against a local JWKS endpoint whose keys can change, with
//! tokens signed by P-256 keys made for the test.

use super::*;
use crate::egress::EgressConfig;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

struct TestKey {
    kid: String,
    pkcs8: Vec<u8>,
    jwk: Value,
}

fn key(kid: &str) -> TestKey {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let point = pair.public_key_raw();
    assert_eq!(point.len(), 65);
    TestKey {
        kid: kid.to_string(),
        pkcs8: pair.serialize_der(),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }),
    }
}

fn sign(k: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(k.kid.clone());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&k.pkcs8)).unwrap()
}

struct Jwks {
    published: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    uri: Url,
}

async fn jwks_server(keys: Vec<Value>) -> Jwks {
    let published = Arc::new(Mutex::new(keys));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (p, f) = (published.clone(), fetches.clone());
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (p, f) = (p.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                let keys = p.lock().unwrap().clone();
                axum::Json(json!({ "keys": keys }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Jwks {
        published,
        fetches,
        uri: Url::parse(&format!("http://127.0.0.1:{port}/jwks")).unwrap(),
    }
}

fn http() -> OAuthHttp {
    let config = EgressConfig {
        allowed_cidrs: vec!["127.0.0.1/32".parse().unwrap()],
        ..EgressConfig::default()
    };
    OAuthHttp::from_config(&config, Duration::from_secs(5)).unwrap()
}

const ISSUER: &str = "https://idp.test";
const CLIENT: &str = "client-1";

fn claims() -> Value {
    let now = now_unix();
    json!({
        "iss": ISSUER, "aud": CLIENT, "sub": "user-42", "email": "ada@example.test",
        "iat": now, "exp": now + 300, "nonce": "n-1",
    })
}

fn check(server: &Jwks) -> IdTokenCheck {
    IdTokenCheck {
        issuer: ISSUER.into(),
        jwks_uri: server.uri.clone(),
        keys: Arc::new(JwksCache::new()),
    }
}

#[tokio::test]
async fn a_valid_token_gives_its_subject_and_email() {
    let a = key("a");
    let server = jwks_server(vec![a.jwk.clone()]).await;
    let check = check(&server);
    let got = check
        .validate(&http(), &sign(&a, &claims()), CLIENT, Some("n-1"))
        .await
        .unwrap();
    assert_eq!(got.subject, "user-42");
    assert_eq!(got.email.as_deref(), Some("ada@example.test"));
    // The keys are cached: a second token costs no fetch.
    check
        .validate(&http(), &sign(&a, &claims()), CLIENT, Some("n-1"))
        .await
        .unwrap();
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn each_failed_check_is_named() {
    let a = key("a");
    let server = jwks_server(vec![a.jwk.clone()]).await;
    let check = check(&server);
    let http = http();
    let with = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        sign(&a, &c)
    };
    let now = now_unix();
    let cases: Vec<(String, Option<&str>, &str)> = vec![
        (
            with(json!({"aud": "someone-else"})),
            Some("n-1"),
            "audience",
        ),
        (with(json!({"exp": now - 3600})), Some("n-1"), "expired"),
        (
            with(json!({"iss": "https://evil.test"})),
            Some("n-1"),
            "issuer",
        ),
        (with(json!({"nonce": "replayed"})), Some("n-1"), "nonce"),
        (with(json!({"nonce": null})), Some("n-1"), "nonce"),
        (
            with(json!({"azp": "someone-else"})),
            Some("n-1"),
            "authorized party",
        ),
        (with(json!({"iat": now + 3600})), Some("n-1"), "future"),
        (with(json!({"iat": null})), Some("n-1"), "`iat`"),
        (with(json!({"sub": null})), Some("n-1"), "`sub`"),
    ];
    for (token, nonce, expected) in cases {
        let err = check
            .validate(&http, &token, CLIENT, nonce)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
    // A payload changed after signing fails the signature.
    let token = sign(&a, &claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["sub"] = json!("admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    let err = check
        .validate(&http, &forged, CLIENT, Some("n-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, IdTokenError::Signature), "{err}");
    // Unsigned and symmetric tokens are refused before any key is looked up.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"a"}"#),
        parts[1]
    );
    assert!(check.validate(&http, &none, CLIENT, None).await.is_err());
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"client-secret"),
    )
    .unwrap();
    let err = check.validate(&http, &hs, CLIENT, None).await.unwrap_err();
    assert!(matches!(err, IdTokenError::Algorithm(_)), "{err}");
    assert!(
        check
            .validate(&http, "not.a.jwt", CLIENT, None)
            .await
            .is_err()
    );
    // No message quotes the token.
    let err = check
        .validate(&http, &forged, CLIENT, Some("n-1"))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains(parts[2]));
}

#[tokio::test]
async fn a_rotated_key_is_fetched_again_and_an_unpublished_one_refused() {
    let (a, b, c) = (key("a"), key("b"), key("c"));
    let server = jwks_server(vec![a.jwk.clone()]).await;
    let check = check(&server);
    let http = http();
    check
        .validate(&http, &sign(&a, &claims()), CLIENT, Some("n-1"))
        .await
        .unwrap();
    // The provider rotates to key b: the cache lacks it, so the set is fetched again.
    server.published.lock().unwrap().push(b.jwk.clone());
    let got = check
        .validate(&http, &sign(&b, &claims()), CLIENT, Some("n-1"))
        .await
        .unwrap();
    assert_eq!(got.subject, "user-42");
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
    // A key nobody published is refused after one more look.
    let err = check
        .validate(&http, &sign(&c, &claims()), CLIENT, Some("n-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, IdTokenError::UnknownKey { .. }), "{err}");
    assert_eq!(server.fetches.load(Ordering::SeqCst), 3);
}
