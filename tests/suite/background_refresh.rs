//! `keyway serve` runs the background token refresher: against the real OAuth server of
//! `tests/oidc`, an idle connection whose access token is about to expire gets a new one
//! before it expires with no route call, and a connection that needs re-authorization is
//! never sent to the provider, pass after pass. Intervals are set short through the
//! serve flags; waits poll the database and `/metrics` under a generous guard.

use std::time::{Duration, Instant};

use keyway_host::store::now_unix;
use keyway_tests::backend::{self, literal, nullable};
use keyway_tests::components;
use keyway_tests::oidc::OidcServer;
use keyway_tests::server::{ADMIN_KEY, Connectors, Server, client, send, with_json};
use serde_json::json;

/// The server's public URL: fixed before its port is known, so the provider can hold the
/// redirect URI. The provider's redirect is delivered to the server by the test.
const PUBLIC_URL: &str = "http://127.0.0.1:9";
const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";
const CLIENT_SECRET: &str = "canary-client-secret-background-8c2f";
/// Seconds: a pass every second refreshes what expires within two minutes.
const INTERVAL: &str = "1";
const AHEAD: u64 = 120;
/// Only guards against a hang; nothing is asserted about how long a wait took.
const GUARD: Duration = Duration::from_secs(120);

fn admin(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    req.bearer_auth(ADMIN_KEY)
}

/// A provider with hour-long access tokens, and `keyway serve` with connector `bg` on it.
async fn start() -> (OidcServer, Server, Connectors) {
    keyway_tests::artifacts::canary(CLIENT_SECRET);
    let oidc = OidcServer::start(CLIENT_SECRET, &[REDIRECT], 3600);
    let connectors = Connectors::new();
    let manifest = json!({
        "key": "bg", "name": "Background refresh", "provider": "oidc", "kind": "source",
        "version": "0.1.0", "permissions": { "http": [] },
        "connection": {
            "oauth": {
                "type": "authorization_code",
                "issuerUrl": oidc.issuer.as_str(),
                "tokenUrlTemplate": oidc.proxied_token_url().as_str(),
                "scopes": ["openid", "profile"],
                "client": { "credentialKey": "bg-app" }
            }
        }
    });
    connectors.add("bg", &manifest.to_string(), components::HELLO);
    let ahead = AHEAD.to_string();
    let server = Server::start(
        connectors.path(),
        &[
            "--allow-private-network",
            "127.0.0.1/32",
            "--public-url",
            PUBLIC_URL,
            "--refresh-interval-seconds",
            INTERVAL,
            "--refresh-ahead-seconds",
            &ahead,
        ],
    );
    let a = send(with_json(
        admin(client().put(server.url("/v1/credentials/bg-app"))),
        &json!({ "clientId": oidc.client_id, "clientSecret": CLIENT_SECRET }),
    ))
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    (oidc, server, connectors)
}

/// Creates and authorizes connection `name` through the admin API and the provider.
async fn connect(oidc: &OidcServer, server: &Server, name: &str) {
    server.create_connection(name, "bg").await;
    let a = send(admin(
        client().post(server.url(&format!("/v1/connections/{name}/authorize"))),
    ))
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let url = url::Url::parse(a.json["authorizationUrl"].as_str().expect("URL")).expect("URL");
    let query = oidc.drive_authorization(&url, REDIRECT).await;
    let done = send(
        client()
            .get(server.url(&format!("/oauth/callback?{query}")))
            .header("accept", "application/json"),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(token_row(server, name).status, "connected");
}

/// What the store says of a connection's token.
#[derive(Debug, Clone, PartialEq)]
struct TokenRow {
    status: String,
    expires_at: i64,
    generation: i64,
    last_refresh_at: Option<i64>,
}

fn token_row(server: &Server, name: &str) -> TokenRow {
    let rows = backend::query(
        &server.data_path(),
        &format!(
            "SELECT c.status, t.expires_at, t.generation, c.last_refresh_at
             FROM connections c JOIN tokens t ON t.connection_id = c.id WHERE c.name = {}",
            literal(name)
        ),
    );
    let r = rows.first().expect("the connection has a token");
    let int = |v: &str| v.parse::<i64>().expect("a number");
    TokenRow {
        status: r[0].clone(),
        expires_at: int(&r[1]),
        generation: int(&r[2]),
        last_refresh_at: nullable(&r[3]).map(int),
    }
}

/// Makes the stored access token expire `seconds` from now, as if it had been issued
/// long ago; and, with `status`, moves the connection to that status.
fn age_token(server: &Server, name: &str, seconds: i64, status: Option<&str>) {
    let data = server.data_path();
    backend::query(
        &data,
        &format!(
            "UPDATE tokens SET expires_at = {}
             WHERE connection_id = (SELECT id FROM connections WHERE name = {})",
            now_unix() + seconds,
            literal(name)
        ),
    );
    if let Some(status) = status {
        backend::query(
            &data,
            &format!(
                "UPDATE connections SET status = {}, last_error = 'invalid_grant: revoked'
                 WHERE name = {}",
                literal(status),
                literal(name)
            ),
        );
    }
}

/// The value of the metric line that starts with `series` (name and labels).
async fn metric(server: &Server, series: &str) -> u64 {
    let text = send(client().get(server.url("/metrics"))).await.text;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse::<f64>().expect("a number") as u64)
}

async fn passes(server: &Server) -> u64 {
    metric(server, "keyway_background_refresh_passes_total").await
}

/// Polls `done` until it holds; panics (with `what`) only when the guard runs out.
async fn wait_for<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let give_up = Instant::now() + GUARD;
    while !done().await {
        assert!(Instant::now() < give_up, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn refresh_grants(oidc: &OidcServer) -> u64 {
    oidc.stats().await["grantTypes"]["refresh_token"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_token_about_to_expire_is_refreshed_before_it_expires_without_a_route_call() {
    let (oidc, server, _connectors) = start().await;
    connect(&oidc, &server, "idle").await;
    // An hour-long token is outside the two-minute window: passes leave it alone.
    let fresh = token_row(&server, "idle");
    assert!(fresh.expires_at - now_unix() > AHEAD as i64, "{fresh:?}");

    oidc.proxy_control("reset").await;
    age_token(&server, "idle", 60, None);
    let aged = token_row(&server, "idle");
    wait_for("the refresher replaces the aged token", || async {
        token_row(&server, "idle").generation != aged.generation
    })
    .await;

    let now = token_row(&server, "idle");
    assert_eq!(now.status, "connected", "{now:?}");
    assert!(now.generation > aged.generation, "{now:?}");
    assert!(now.expires_at > aged.expires_at, "{aged:?} -> {now:?}");
    let refreshed_at = now.last_refresh_at.expect("a refresh time");
    assert!(
        refreshed_at < aged.expires_at,
        "refreshed at {refreshed_at}, after the token expired at {}",
        aged.expires_at
    );
    assert!(refresh_grants(&oidc).await >= 1, "{}", oidc.stats().await);
    let refreshed = "keyway_background_refresh_connections_total{outcome=\"refreshed\"}";
    assert!(metric(&server, refreshed).await >= 1);
    let calls = backend::query_one(
        &server.data_path(),
        "SELECT count(*) FROM invocations WHERE connection = 'idle'",
    );
    assert_eq!(calls, "0", "no route ran");
    // The new token is outside the window again: it stays as it is.
    assert!(now.expires_at - now_unix() > AHEAD as i64, "{now:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_needs_reauthorization_is_not_retried() {
    let (oidc, server, _connectors) = start().await;
    connect(&oidc, &server, "stuck").await;
    age_token(&server, "stuck", 60, Some("reauth_required"));
    oidc.proxy_control("reset").await;
    let before = token_row(&server, "stuck");

    // Several whole passes after the change, each finding the token inside the window.
    let first = passes(&server).await;
    wait_for("three more passes", || async {
        passes(&server).await >= first + 3
    })
    .await;

    let stats = oidc.stats().await;
    assert_eq!(stats["tokenRequests"], 0, "{stats}");
    assert_eq!(refresh_grants(&oidc).await, 0, "{stats}");
    assert_eq!(token_row(&server, "stuck"), before);
    let shown = send(admin(client().get(server.url("/v1/connections/stuck")))).await;
    assert_eq!(shown.json["status"], "reauth_required", "{}", shown.text);
}
