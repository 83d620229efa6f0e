use super::*;
use crate::egress::FnPolicy;
use http::header;
use std::collections::HashMap;

struct Secrets(HashMap<&'static str, &'static str>);

impl SecretSource for Secrets {
    fn secret(&self, name: &str) -> Result<String, SecretError> {
        self.0
            .get(name)
            .map(|v| v.to_string())
            .ok_or_else(|| SecretError::NotFound(name.to_owned()))
    }
}

struct Fixed(&'static str);

impl TokenSource for Fixed {
    fn token(&self, _min_ttl: Duration) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async move { Ok(self.0.to_owned()) })
    }
    fn force_refresh(&self) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async move { Ok(format!("{}-new", self.0)) })
    }
}

fn rule(host: &'static str, header: &str, format: InjectFormat) -> InjectRule {
    InjectRule {
        admits: Arc::new(FnPolicy(move |u: &Url| u.host_str() == Some(host))),
        describe: format!("rule for {host}"),
        header: HeaderName::from_bytes(header.as_bytes()).unwrap(),
        format,
    }
}

fn bearer(host: &'static str) -> InjectRule {
    rule(
        host,
        "authorization",
        InjectFormat::Prefix("Bearer ".into()),
    )
}

fn oauth() -> Auth {
    Auth::OAuth(OAuthAuth {
        min_ttl_seconds: 60,
    })
}

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

#[tokio::test]
async fn oauth_default_and_shopify_shapes() {
    let t = Fixed("tok-123");
    let c = credential(
        &oauth(),
        &bearer("a.test"),
        Some(&t),
        &NO_APP_TOKENS,
        &NoSecrets,
        None,
    )
    .await
    .unwrap();
    assert_eq!(c.name, header::AUTHORIZATION);
    assert_eq!(c.value, "Bearer tok-123");
    assert!(c.value.is_sensitive());
    assert!(!format!("{c:?}").contains("tok-123"));
    assert!(c.spellings.contains(&"tok-123".to_string()));
    assert!(c.spellings.contains(&"Bearer tok-123".to_string()));
    assert_eq!(c.token.as_deref(), Some("tok-123"));
    let shopify = rule(
        "a.test",
        "x-shopify-access-token",
        InjectFormat::Prefix(String::new()),
    );
    let c = credential(
        &oauth(),
        &shopify,
        Some(&t),
        &NO_APP_TOKENS,
        &NoSecrets,
        None,
    )
    .await
    .unwrap();
    assert_eq!(c.name.as_str(), "x-shopify-access-token");
    assert_eq!(c.value, "tok-123");
    let c = credential(
        &oauth(),
        &shopify,
        Some(&t),
        &NO_APP_TOKENS,
        &NoSecrets,
        Some("fresh"),
    )
    .await
    .unwrap();
    assert_eq!(c.value, "fresh");
}

#[tokio::test]
async fn oauth_without_source_is_not_permitted() {
    let err = credential(
        &oauth(),
        &bearer("a.test"),
        None,
        &NO_APP_TOKENS,
        &NoSecrets,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, EgressErrorCode::NotPermitted);
}

#[tokio::test]
async fn secrets_as_prefix_and_basic() {
    let s = Secrets(HashMap::from([
        ("api_key", "k-999"),
        ("user", "alice"),
        ("pw", "s3cret"),
    ]));
    let c = credential(
        &Auth::Secret("api_key".into()),
        &bearer("a.test"),
        None,
        &NO_APP_TOKENS,
        &s,
        None,
    )
    .await
    .unwrap();
    assert_eq!(c.value, "Bearer k-999");
    assert!(c.token.is_none());
    let basic = rule(
        "a.test",
        "authorization",
        InjectFormat::Basic {
            password_secret: Some("pw".into()),
        },
    );
    let c = credential(
        &Auth::Secret("user".into()),
        &basic,
        None,
        &NO_APP_TOKENS,
        &s,
        None,
    )
    .await
    .unwrap();
    assert_eq!(c.value, "Basic YWxpY2U6czNjcmV0");
    for spelling in [
        "alice",
        "s3cret",
        "YWxpY2U6czNjcmV0",
        "Basic YWxpY2U6czNjcmV0",
    ] {
        assert!(c.spellings.iter().any(|s| s == spelling), "{spelling}");
    }
    let err = credential(
        &Auth::Secret("nope".into()),
        &bearer("a.test"),
        None,
        &NO_APP_TOKENS,
        &s,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, EgressErrorCode::NotFound);
    assert!(err.message.contains("nope"));
}

#[tokio::test]
async fn token_with_newline_is_refused_without_echo() {
    let t = Fixed("evil\r\nX-Injected: 1");
    let err = credential(
        &oauth(),
        &bearer("a.test"),
        Some(&t),
        &NO_APP_TOKENS,
        &NoSecrets,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, EgressErrorCode::Internal);
    assert!(!err.message.contains("evil"));
}

#[test]
fn the_first_admitting_rule_wins_and_no_rule_refuses_by_name() {
    let bindings = Bindings {
        oauth: vec![
            rule(
                "api.test",
                "authorization",
                InjectFormat::Prefix("Bearer ".into()),
            ),
            rule("other.test", "x-token", InjectFormat::Prefix(String::new())),
        ],
        secrets: BTreeMap::from([("api_key".to_string(), vec![bearer("keys.test")])]),
        apps: BTreeMap::from([("ms365".to_string(), vec![bearer("graph.test")])]),
        unbound: vec!["connection.oauth.inject[2]: setting `shop` is missing".into()],
    };
    // An app connection's token goes only where its own rules admit, and an app
    // connection granted nothing is refused by name.
    let app = |name: &str| {
        Auth::AppConnection(AppConnectionAuth {
            name: name.into(),
            min_ttl_seconds: 0,
        })
    };
    assert!(
        bindings
            .rule_for(&app("ms365"), &url("https://graph.test/me"))
            .unwrap()
            .is_some()
    );
    let err = bindings
        .rule_for(&app("ms365"), &url("https://api.test/me"))
        .unwrap_err();
    assert!(
        err.message.contains("connection.appInject.ms365"),
        "{}",
        err.message
    );
    let err = bindings
        .rule_for(&app("google"), &url("https://graph.test/me"))
        .unwrap_err();
    assert_eq!(err.code, EgressErrorCode::NotPermitted);
    assert!(
        err.message.contains("permissions.connections.google"),
        "{}",
        err.message
    );
    // A name the guest made huge and multi-line is shown short and on one line.
    let long = format!("x\n{}", "y".repeat(100_000));
    let err = bindings
        .rule_for(&app(&long), &url("https://graph.test/me"))
        .unwrap_err();
    assert!(
        err.message.len() < 600 && !err.message.contains('\n'),
        "{}",
        err.message.len()
    );
    let r = bindings
        .rule_for(&oauth(), &url("https://other.test/x"))
        .unwrap()
        .unwrap();
    assert_eq!(r.header.as_str(), "x-token");
    assert!(
        bindings
            .rule_for(&Auth::None, &url("https://x.test/"))
            .unwrap()
            .is_none()
    );

    let err = bindings
        .rule_for(&oauth(), &url("https://echo.test/headers?q=1"))
        .unwrap_err();
    assert_eq!(err.code, EgressErrorCode::NotPermitted);
    assert!(
        err.message.contains("connection.oauth.inject"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("https://echo.test/headers"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("q=1"), "{}", err.message);
    assert!(
        err.message.contains("setting `shop` is missing"),
        "{}",
        err.message
    );

    let secret = Auth::Secret("api_key".into());
    assert!(
        bindings
            .rule_for(&secret, &url("https://keys.test/"))
            .unwrap()
            .is_some()
    );
    let err = bindings
        .rule_for(&secret, &url("https://api.test/"))
        .unwrap_err();
    assert!(
        err.message.contains("connection.inject.api_key"),
        "{}",
        err.message
    );
    let err = bindings
        .rule_for(&Auth::Secret("other".into()), &url("https://keys.test/"))
        .unwrap_err();
    assert_eq!(err.code, EgressErrorCode::NotPermitted);
    assert!(
        err.message.contains("permissions.secrets.other"),
        "{}",
        err.message
    );
}

#[test]
fn injected_values_are_kept_once() {
    let log = InjectedValues::new();
    log.record(&["a-token".into(), "Bearer a-token".into()]);
    log.record(&["a-token".into()]);
    assert_eq!(log.take().len(), 2);
    assert!(log.take().is_empty());
}
