//! The guest's doors against a real authorization server (`oidc-provider` on loopback), a
//! real SQLite file, a local API and a real compiled component: a stored connection is
//! authorized with PKCE, a route calls the API with `auth: oauth`, the API sees the
//! injected bearer token while the guest (strict custody) never receives it, a 401 from
//! the API triggers exactly one refresh at the provider and a successful retry, and the
//! `postConnect` route's account is recorded.

use keyway_host::runtime::RouteRequest;
use keyway_host::services::Services;
use keyway_host::types::Method;
use keyway_tests::logs;
use keyway_tests::oidc::{OidcServer, connect_e2e, write_e2e_connector};
use keyway_tests::provider::LocalApi;
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const CLIENT_SECRET: &str = "canary-client-secret-capabilities-3e9d";

async fn call(services: &Services, path: &str, query: &[(&str, &str)]) -> Value {
    let mut req = RouteRequest::new(Method::Get, path);
    req.query = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let res = services.invoke("e2e-conn", req).await.expect("route runs");
    serde_json::from_slice(&res.body).expect("JSON answer")
}

fn bearer(seen: &keyway_tests::provider::Seen) -> String {
    seen.header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .expect("a bearer token was injected")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_injection_strict_custody_and_refresh_on_401_against_a_real_provider() {
    logs::capture();
    let server = OidcServer::start(CLIENT_SECRET, &[REDIRECT], 300);
    let api = LocalApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let connectors = dir.path().join("connectors");
    write_e2e_connector(&connectors, &server, &api);

    let config = keyway_tests::loopback_services_config(dir.path().join("data"), vec![connectors]);
    let data_dir = config.data_dir.clone();
    let services = Services::open(config).expect("services");
    // The connection created as `keyway connections create` does, authorized with PKCE
    // through the real provider (discovery fills the authorize URL).
    connect_e2e(&services, &server, CLIENT_SECRET, REDIRECT).await;
    let token_requests_after_connect = server.token_requests().await;

    // postConnect runs the connector's account route and records what it reports.
    let account = services
        .post_connect("e2e-conn")
        .await
        .expect("postConnect")
        .expect("declared");
    assert_eq!(account.id.as_deref(), Some("acct-42"));
    assert_eq!(
        account.name.as_deref(),
        Some("Test account (openid profile)")
    );
    let stored = services.show_connection("e2e-conn").expect("record");
    let account = stored.account.expect("the account is recorded");
    assert_eq!(account.id.as_deref(), Some("acct-42"));
    assert_eq!(account.domain.as_deref(), Some("example.test"));

    // The route calls the API with host-side injection.
    let v = call(
        &services,
        "/http",
        &[("url", &api.url("/ok")), ("auth", "oauth")],
    )
    .await;
    assert_eq!(v["value"]["status"], 200, "{v}");
    let first = bearer(&api.seen()[0]);
    assert!(first.len() > 10);
    assert!(
        !v.to_string().contains(&first),
        "the guest never sees the token"
    );

    // Strict custody: the token door is closed to the guest.
    let v = call(&services, "/token", &[]).await;
    assert_eq!(v["ok"], false);
    assert_eq!(v["code"], "not_permitted", "{v}");

    // A 401 from the API: one forced refresh at the real provider, then a retry that works.
    api.fail_auth(1);
    let v = call(
        &services,
        "/http",
        &[("url", &api.url("/flaky")), ("auth", "oauth")],
    )
    .await;
    assert_eq!(v["value"]["status"], 200, "{v}");
    let seen = api.seen();
    let rejected = bearer(&seen[seen.len() - 2]);
    let retried = bearer(&seen[seen.len() - 1]);
    assert_eq!(rejected, first);
    assert_ne!(retried, first, "the retry carries the refreshed token");
    assert_eq!(
        server.token_requests().await,
        token_requests_after_connect + 1,
        "exactly one refresh"
    );

    // Every invocation is recorded with its outbound calls, the retry after the 401 too.
    let history = services
        .recent_invocations("e2e-conn", 10, None)
        .expect("history")
        .items;
    assert_eq!(history.len(), 4, "postConnect and three calls: {history:?}");
    let last = &history[0];
    assert_eq!(last.route, "GET /http");
    assert_eq!(last.status, Some(200));
    let outbound = last.outbound.as_array().expect("calls");
    assert_eq!(outbound.len(), 2, "{outbound:?}");
    assert_eq!(outbound[0]["status"], 401);
    assert_eq!(outbound[1]["retry"], true);
    assert_eq!(outbound[1]["status"], 200);

    // Nothing secret in plain text in what the store holds or the logs.
    let db = keyway_tests::backend::stored_bytes(&data_dir);
    let logs = logs::captured();
    for canary in [CLIENT_SECRET, first.as_str(), retried.as_str()] {
        assert!(
            !db.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "a secret is in the database in plain text"
        );
        assert!(!logs.contains(canary), "a secret reached the logs");
    }
}
