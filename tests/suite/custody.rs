//! Custody against a hostile connector, driven by a real manifest: each credential goes
//! only to the URLs its inject rule names, in the rule's header; a secret not granted
//! `inject` goes nowhere; an endpoint that reflects what it receives hands back no
//! credential; and the route's own answer carries no secret the invocation knows.
//!
//! The hostile test component runs through `registry::load` (manifest -> bindings), the
//! real runtime and egress layer, against the local API on 127.0.0.1.

use keyway_host::egress::{Egress, EgressConfig, EgressLimits, TokenError, TokenSource};
use keyway_host::registry::{self, Doors, LoadedConnector};
use keyway_host::runtime::{RouteRequest, Runtime};
use keyway_host::types::{BoxFuture, Method};
use keyway_tests::provider::LocalApi;
use keyway_tests::{components, test_runtime_config};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "canary-custody-access-token-91ad";
const API_TOKEN: &str = "canary-custody-api-token-5b3c";
const UNGRANTED: &str = "canary-custody-ungranted-7e2f";
const WEBHOOK: &str = "canary-custody-webhook-secret-0c4d";
const CANARIES: [&str; 4] = [TOKEN, API_TOKEN, UNGRANTED, WEBHOOK];

struct FixedToken;

impl TokenSource for FixedToken {
    fn token(&self, _min_ttl: Duration) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async { Ok(TOKEN.to_string()) })
    }
    fn force_refresh(&self) -> BoxFuture<'_, Result<String, TokenError>> {
        self.token(Duration::ZERO)
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    api: LocalApi,
    loaded: LoadedConnector,
    ctx: keyway_host::context::ConnectionContext,
}

async fn fixture(tenant: &str) -> Fixture {
    let api = LocalApi::start().await;
    let base = format!("http://127.0.0.1:{}", api.addr.port());
    let manifest = json!({
        "key": "hostile", "name": "Hostile", "provider": "none", "kind": "source",
        "version": "0.1.0",
        "permissions": {
            "http": [format!("{base}/*")],
            "secrets": { "api_token": ["inject"], "webhook_secret": ["read"] }
        },
        "connection": {
            "settingsSchema": {
                "type": "object",
                "required": ["tenant"],
                "properties": {
                    "tenant": { "type": "string" },
                    "api_token": { "type": "string", "x-secret": true },
                    "ungranted": { "type": "string", "x-secret": true },
                    "webhook_secret": { "type": "string", "x-secret": true }
                }
            },
            "inject": { "api_token": [{ "url": format!("{base}/ok") }] },
            "oauth": {
                "type": "client_credentials",
                "tokenUrlTemplate": "http://127.0.0.1:9/token",
                "client": { "credentialKey": "hostile-app" },
                "exposeAccessToken": false,
                "inject": [
                    { "url": format!("{base}/tenants/{{settings.tenant}}/*"), "header": "X-Token", "prefix": "" },
                    { "url": format!("{base}/echo/bound") }
                ]
            }
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = dir.path().join("hostile");
    std::fs::create_dir(&conn).expect("mkdir");
    std::fs::write(conn.join("connector.json"), manifest.to_string()).expect("manifest");
    std::fs::copy(components::HOSTILE, conn.join("connector.wasm")).expect("component");
    let runtime = Runtime::new(test_runtime_config()).expect("runtime");
    let loaded = registry::load(&runtime, &conn, None).await.expect("loads");
    let settings = loaded
        .connector()
        .validate_settings(
            json!({
                "tenant": tenant,
                "api_token": API_TOKEN,
                "ungranted": UNGRANTED,
                "webhook_secret": WEBHOOK,
            })
            .as_object()
            .expect("object"),
        )
        .expect("valid settings");
    let doors = Doors {
        egress: Some(Arc::new(
            Egress::new(EgressConfig {
                allowed_cidrs: vec!["127.0.0.1/32".parse().expect("cidr")],
                ..EgressConfig::default()
            })
            .expect("egress"),
        )),
        egress_limits: EgressLimits::default(),
        tokens: Some(Arc::new(FixedToken)),
        app_tokens: Default::default(),
        ingest: None,
    };
    let auth = loaded.connector().auth(None).expect("a single way");
    let ctx = loaded.context(Some("hostile-conn"), auth, &settings, &doors);
    Fixture {
        _dir: dir,
        api,
        loaded,
        ctx,
    }
}

/// Runs `GET /http` of the hostile component; the route's answer must hold no canary.
async fn http(f: &Fixture, query: &[(&str, &str)]) -> Value {
    let mut req = RouteRequest::new(Method::Get, "/http");
    req.query = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let res = f
        .loaded
        .component
        .invoke(&f.ctx, req)
        .await
        .expect("answers");
    let text = format!("{:?} {}", res.headers, String::from_utf8_lossy(&res.body));
    for canary in CANARIES {
        assert!(
            !text.contains(canary),
            "a secret reached the guest's answer: {text}"
        );
    }
    serde_json::from_str(&String::from_utf8_lossy(&res.body)).expect("JSON answer")
}

fn refused(v: &Value, code: &str) -> String {
    assert_eq!(v["ok"], false, "expected a refusal: {v}");
    assert_eq!(v["code"], code, "{v}");
    v["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_secret_not_granted_inject_goes_nowhere() {
    let f = fixture("acme").await;
    for name in ["ungranted", "webhook_secret"] {
        let url = f.api.url("/ok");
        let v = http(&f, &[("url", &url), ("auth", "secret"), ("secret", name)]).await;
        let msg = refused(&v, "not_permitted");
        assert!(
            msg.contains(&format!("permissions.secrets.{name}")),
            "{msg}"
        );
    }
    assert!(f.api.seen().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_granted_secret_goes_only_where_its_rule_says() {
    let f = fixture("acme").await;
    let echo = f.api.url("/echo/headers");
    let v = http(
        &f,
        &[("url", &echo), ("auth", "secret"), ("secret", "api_token")],
    )
    .await;
    let msg = refused(&v, "not_permitted");
    assert!(msg.contains("connection.inject.api_token"), "{msg}");
    assert!(
        f.api.seen().is_empty(),
        "the echo endpoint received nothing"
    );
    let ok = f.api.url("/ok");
    let v = http(
        &f,
        &[("url", &ok), ("auth", "secret"), ("secret", "api_token")],
    )
    .await;
    assert_eq!(v["value"]["status"], 200, "{v}");
    assert_eq!(
        f.api.seen()[0].header("authorization"),
        Some(format!("Bearer {API_TOKEN}").as_str())
    );
}

#[tokio::test]
async fn the_token_goes_only_to_its_tenant_in_the_rule_header() {
    let f = fixture("acme").await;
    let mine = f.api.url("/tenants/acme/orders");
    let v = http(&f, &[("url", &mine), ("auth", "oauth")]).await;
    assert_eq!(v["value"]["status"], 404, "reached the API: {v}");
    let seen = f.api.seen();
    assert_eq!(seen[0].header("x-token"), Some(TOKEN));
    assert_eq!(seen[0].header("authorization"), None);
    // A sibling tenant on the same allowlisted origin, or any other path, gets nothing.
    for path in ["/tenants/other/orders", "/echo/headers", "/tenants/acme"] {
        let url = f.api.url(path);
        let msg = refused(
            &http(&f, &[("url", &url), ("auth", "oauth")]).await,
            "not_permitted",
        );
        assert!(msg.contains("/connection/oauth/inject/0"), "{msg}");
    }
    // The guest cannot pick the header either: it may not set the rule's header itself.
    let v = http(
        &f,
        &[
            ("url", &mine),
            ("auth", "oauth"),
            ("header", "X-Token:mine"),
        ],
    )
    .await;
    refused(&v, "invalid_input");
    assert_eq!(f.api.seen().len(), 1, "only the first request was sent");
}

#[tokio::test]
async fn a_reflecting_endpoint_hands_back_no_credential() {
    let f = fixture("acme").await;
    let bound = f.api.url("/echo/bound");
    let v = http(&f, &[("url", &bound), ("auth", "oauth")]).await;
    assert_eq!(v["value"]["status"], 200, "{v}");
    // The endpoint did receive the token, and reflected it in the body and a header...
    assert_eq!(
        f.api.seen()[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    // ...and the guest saw it replaced (`http` above checked no canary is in the answer).
    let body = v["value"]["body"].as_str().expect("body");
    assert!(body.contains("authorization: [REDACTED]"), "{body}");
    let headers = v["value"]["headers"].to_string();
    assert!(headers.contains("x-echo-authorization"), "{headers}");
    assert!(headers.contains("[REDACTED]"), "{headers}");
}

/// The next invocation handed the same token reuses the redactor the last one built for
/// it (kept on the connection's context), and it still scrubs what a reflecting endpoint
/// hands back.
#[tokio::test]
async fn the_next_invocation_reuses_the_redactor_built_for_the_same_token() {
    let f = fixture("acme").await;
    let bound = f.api.url("/echo/bound");
    let call = || {
        let mut req = RouteRequest::new(Method::Get, "/http");
        req.query = vec![
            ("url".into(), bound.clone()),
            ("auth".into(), "oauth".into()),
        ];
        f.loaded.component.invoke(&f.ctx, req)
    };
    let first = call().await.expect("answers");
    let second = call().await.expect("answers");
    for res in [&first, &second] {
        let text = String::from_utf8_lossy(&res.body);
        assert!(!text.contains(TOKEN), "{text}");
        assert!(text.contains("authorization: [REDACTED]"), "{text}");
        assert_eq!(res.redactor.redact(TOKEN), "[REDACTED]");
    }
    assert!(
        Arc::ptr_eq(&first.redactor, &second.redactor),
        "the second invocation built its redactor again"
    );
}
