//! App connections against the real authorization server (`oidc-provider` on loopback):
//! created from the CLI with the client secret from an environment variable, authorized
//! with `--no-browser` on a fixed `--port`, the id_token validated (subject recorded), a
//! tampered, forged, wrong-audience, expired or wrong-nonce id_token refused with the
//! check named and no token stored, a key the provider rotates to accepted once its JWKS
//! publishes it (fetched again by a long-lived host), a forged id_token in a refresh
//! answer refused (the connection then needs a new authorization), and revocation.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use keyway_host::oauth::CallbackParams;
use keyway_host::services::{AuthorizationStart, Expected, Services};
use keyway_tests::oidc::OidcServer;
use keyway_tests::{keyway_command, services_config};
use serde_json::Value;

const CLIENT_SECRET: &str = "canary-app-client-secret-7c21";
const SECRET_VAR: &str = "KEYWAY_TEST_APP_SECRET";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn keyway(data: &Path, args: &[&str]) -> Command {
    let mut cmd = keyway_command(data);
    cmd.args(args)
        .args(["--allow-cidr", "127.0.0.1/32"])
        .env("KEYWAY_CONNECTORS", data.join("no-connectors"))
        .env("KEYWAY_LOG", "warn")
        .env(SECRET_VAR, CLIENT_SECRET)
        .env_remove("KEYWAY_MASTER_KEY")
        .stdin(Stdio::null());
    cmd
}

fn run(data: &Path, args: &[&str]) -> Output {
    keyway(data, args).output().expect("run keyway")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn create(data: &Path, server: &OidcServer, name: &str) {
    let out = run(
        data,
        &[
            "app-connections",
            "create",
            name,
            "--provider-url",
            server.issuer.as_str(),
            "--issuer-url",
            server.issuer.as_str(),
            "--token-url",
            server.proxied_token_url().as_str(),
            "--scopes",
            "openid,profile,offline_access",
            "--client-id",
            &server.client_id,
            "--client-secret-env",
            SECRET_VAR,
        ],
    );
    assert!(out.status.success(), "create: {}", text(&out));
}

/// Runs `app-connections authorize NAME --no-browser --port PORT`, completes the login
/// at the provider and delivers the callback to the CLI's listener.
async fn authorize(data: &Path, server: &OidcServer, name: &str, port: u16) -> Output {
    let port_text = port.to_string();
    let mut child = keyway(
        data,
        &[
            "app-connections",
            "authorize",
            name,
            "--no-browser",
            "--port",
            &port_text,
            "--timeout",
            "60",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn authorize");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).expect("read stdout");
        assert!(n > 0, "authorize ended before printing a URL: {printed}");
        printed.push_str(&line);
        if line.starts_with("http://") {
            break url::Url::parse(line.trim()).expect("authorization URL");
        }
    };
    let redirect = format!("http://127.0.0.1:{port}/callback");
    assert!(printed.contains(&redirect), "{printed}");
    let query = server.drive_authorization(&url, &redirect).await;
    reqwest::get(format!("{redirect}?{query}"))
        .await
        .expect("callback delivered");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read stdout");
    let mut out = child.wait_with_output().expect("authorize output");
    out.stdout = format!("{printed}{rest}").into_bytes();
    out
}

fn show(data: &Path, name: &str) -> Value {
    let out = run(data, &["app-connections", "show", name, "--json"]);
    assert!(out.status.success(), "show: {}", text(&out));
    serde_json::from_slice(&out.stdout).expect("show --json")
}

#[tokio::test]
async fn app_connections_authorize_validate_id_tokens_and_revoke() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let server = OidcServer::start(CLIENT_SECRET, &[&redirect], 60);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");

    // A bad name and a missing endpoint are refused with the rule in the message.
    let out = run(
        &data,
        &[
            "app-connections",
            "create",
            "Google_OAuth",
            "--provider-url",
            "https://accounts.example.test",
            "--auth-url",
            "https://a.example.test/auth",
            "--token-url",
            "https://a.example.test/token",
            "--client-id",
            "x",
            "--client-secret-env",
            SECRET_VAR,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("lowercase letters, digits and hyphens"),
        "{}",
        text(&out)
    );
    let out = run(
        &data,
        &[
            "app-connections",
            "create",
            "no-endpoints",
            "--provider-url",
            "https://accounts.example.test",
            "--client-id",
            "x",
            "--client-secret-env",
            SECRET_VAR,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("issuer"), "{}", text(&out));

    create(&data, &server, "google-oauth");
    assert_eq!(
        show(&data, "google-oauth")["status"],
        "pending_authorization"
    );

    // The happy path: the id_token is checked and its subject recorded.
    let out = authorize(&data, &server, "google-oauth", port).await;
    assert!(
        out.status.success(),
        "authorize: {:?} {}",
        out.status,
        text(&out)
    );
    assert!(
        text(&out).contains("id_token validated: subject test-user"),
        "{}",
        text(&out)
    );
    let view = show(&data, "google-oauth");
    assert_eq!(view["status"], "connected");
    assert_eq!(view["account"]["id"], "test-user");
    assert_eq!(view["hasTokens"], true);

    // Each bad id_token fails the authorization, names its check and stores nothing.
    for (i, (mode, check)) in [
        ("tamper", "signature does not verify"),
        ("forge", "does not publish"),
        ("aud", "audience"),
        ("expired", "expired"),
        ("nonce", "nonce"),
        ("resign", "does not publish"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("refused-{i}");
        create(&data, &server, &name);
        server.proxy_control(&format!("id-token?mode={mode}")).await;
        let out = authorize(&data, &server, &name, port).await;
        assert!(!out.status.success(), "{mode} was accepted: {}", text(&out));
        assert!(text(&out).contains(check), "{mode}: {}", text(&out));
        let view = show(&data, &name);
        assert_eq!(view["hasTokens"], false, "{mode} stored a token");
        assert_eq!(view["status"], "pending_authorization");
    }

    // The provider rotates to a new key: once its JWKS publishes it, a token signed
    // with it is accepted.
    server.provider_control("rotate-keys").await;
    create(&data, &server, "rotated");
    server.proxy_control("id-token?mode=resign").await;
    let out = authorize(&data, &server, "rotated", port).await;
    assert!(out.status.success(), "rotated key: {}", text(&out));

    // Revocation reaches the provider and drops the tokens.
    let out = run(&data, &["app-connections", "revoke", "google-oauth"]);
    assert!(out.status.success(), "revoke: {}", text(&out));
    assert!(
        text(&out).contains("Revoked at the provider"),
        "{}",
        text(&out)
    );
    assert_eq!(show(&data, "google-oauth")["hasTokens"], false);

    // The list shows every app connection and no secret; the client secret is never
    // in the store in the clear, nor in any output.
    let out = run(&data, &["app-connections", "list"]);
    assert!(text(&out).contains("rotated"), "{}", text(&out));
    assert!(!text(&out).contains(CLIENT_SECRET));
    let db = keyway_tests::backend::stored_bytes(&data);
    assert!(
        !db.windows(CLIENT_SECRET.len())
            .any(|w| w == CLIENT_SECRET.as_bytes())
    );
    let out = run(&data, &["app-connections", "delete", "rotated"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&data, &["app-connections", "show", "rotated"]);
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn a_long_lived_host_fetches_the_keys_again_when_the_provider_rotates() {
    let redirect = "http://127.0.0.1:9/callback";
    let server = OidcServer::start(CLIENT_SECRET, &[redirect], 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    create(&data, &server, "ms365-oauth");
    let mut config = services_config(data.clone(), vec![]);
    config.egress.allowed_cidrs = vec!["127.0.0.1/32".parse().expect("cidr")];
    let services = Services::open(config).expect("services");
    let redirect_url = url::Url::parse(redirect).expect("url");
    let authorize_once = || async {
        let AuthorizationStart::Redirect(request) = services
            .begin_app_authorization("ms365-oauth", &redirect_url, None)
            .await
            .expect("authorization URL")
        else {
            panic!("app connections use the browser flow");
        };
        assert!(request.url.as_str().contains("nonce="), "{}", request.url);
        let query = server.drive_authorization(&request.url, redirect).await;
        let callback = CallbackParams::from_query(&query).expect("callback");
        services
            .complete_authorization(&callback, Some(Expected::App("ms365-oauth")))
            .await
    };
    // The keys are fetched and cached by the first authorization.
    authorize_once().await.expect("first authorization");
    // A token signed with a key the cached set lacks, while the provider does not
    // publish it yet: fetched again, still unknown, refused.
    server.proxy_control("id-token?mode=resign").await;
    let err = authorize_once().await.expect_err("unpublished key");
    assert!(err.to_string().contains("does not publish"), "{err}");
    // Published now: the same process fetches the set again and accepts it.
    server.provider_control("rotate-keys").await;
    server.proxy_control("id-token?mode=resign").await;
    let outcome = authorize_once().await.expect("rotated key accepted");
    assert_eq!(
        outcome.outcome.id_claims.expect("claims").subject,
        "test-user"
    );
}

/// Creates and authorizes the app connection `name` in-process.
async fn connect_app(services: &Services, server: &OidcServer, name: &str, redirect: &str) {
    let input = keyway_host::services::AppConnectionInput {
        provider_url: server.issuer.to_string(),
        issuer_url: Some(server.issuer.to_string()),
        auth_url: None,
        token_url: Some(server.proxied_token_url().to_string()),
        scopes: vec!["openid".into(), "offline_access".into()],
        client_id: server.client_id.clone(),
        client_secret: secrecy::SecretString::from(CLIENT_SECRET),
    };
    services
        .create_app_connection(name, &input)
        .expect("app connection");
    let redirect_url = url::Url::parse(redirect).expect("url");
    let AuthorizationStart::Redirect(request) = services
        .begin_app_authorization(name, &redirect_url, None)
        .await
        .expect("authorization URL")
    else {
        panic!("app connections use the browser flow");
    };
    let query = server.drive_authorization(&request.url, redirect).await;
    let callback = CallbackParams::from_query(&query).expect("callback");
    services
        .complete_authorization(&callback, Some(Expected::App(name)))
        .await
        .expect("authorized");
}

#[tokio::test]
async fn one_route_uses_two_app_connections_read_and_injected() {
    use keyway_host::catalog::Lookup;
    use keyway_host::runtime::RouteRequest;
    use keyway_host::services::{NewConnectionInput, PlainValue, SettingsInput};
    use keyway_host::types::Method;

    let redirect = "http://127.0.0.1:9/callback";
    let server = OidcServer::start(CLIENT_SECRET, &[redirect], 2);
    let api = keyway_tests::provider::LocalApi::start().await;
    let connectors = keyway_tests::server::Connectors::new();
    let manifest = serde_json::json!({
        "key": "two-apps", "name": "Two apps", "provider": "local", "kind": "source",
        "version": "0.1.0",
        "permissions": {
            "http": [api.url("/*")],
            "connections": { "google-oauth": ["token"], "ms365-oauth": ["inject"] }
        },
        "connection": {
            "settingsSchema": { "type": "object", "properties": { "baseUrl": { "type": "string" } } },
            "appInject": { "ms365-oauth": [{ "url": api.url("/ok") }] }
        }
    });
    connectors.add(
        "two-apps",
        &manifest.to_string(),
        keyway_tests::components::TWO_APPS,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = services_config(
        dir.path().join("data"),
        vec![connectors.path().to_path_buf()],
    );
    config.egress.allowed_cidrs = vec!["127.0.0.1/32".parse().expect("cidr")];
    config.runtime = keyway_tests::test_runtime_config();
    let services = Services::open(config).expect("services");
    services
        .create_connection(NewConnectionInput {
            auth_option: None,
            name: "apps-conn".into(),
            connector: "two-apps".into(),
            lookup: Lookup::KeyOnly,
            settings: SettingsInput {
                plain: vec![(
                    "baseUrl".into(),
                    PlainValue::Text(api.url("").trim_end_matches('/').to_string()),
                )],
                secret: Default::default(),
            },
        })
        .expect("connection");
    let call = |path: &'static str, query: Vec<(&str, &str)>| {
        let mut req = RouteRequest::new(Method::Get, path);
        req.query = query
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let services = &services;
        async move {
            let res = services.invoke("apps-conn", req).await.expect("route ran");
            let body: Value = serde_json::from_slice(&res.body).expect("json answer");
            (res.status, body)
        }
    };
    let code = |body: &Value| body["code"].as_str().map(str::to_string);

    // Granted but not defined on this host: not_found, for either use.
    let (_, body) = call("/try", vec![("name", "google-oauth")]).await;
    assert_eq!(code(&body).as_deref(), Some("NotFound"), "{body}");
    connect_app(&services, &server, "google-oauth", redirect).await;
    connect_app(&services, &server, "ms365-oauth", redirect).await;

    let (status, body) = call("/profiles", vec![]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["google"]["status"], 200);
    assert_eq!(body["microsoft"]["status"], 200);
    assert_eq!(body["google"]["tokenType"], "Bearer");
    assert!(body["google"]["expiresAt"].as_i64().is_some(), "{body}");
    assert!(body["google"]["tokenLength"].as_u64().unwrap_or(0) > 10);
    // A token the guest read and echoes leaves the route redacted.
    assert_eq!(body["google"]["echo"], "[REDACTED]", "{body}");
    let seen = api.seen();
    let auth: Vec<String> = seen
        .iter()
        .filter(|s| s.path == "/ok")
        .map(|s| s.header("authorization").unwrap_or_default().to_string())
        .collect();
    assert_eq!(auth.len(), 2, "{auth:?}");
    assert!(
        auth.iter()
            .all(|a| a.starts_with("Bearer ") && a.len() > 17)
    );
    assert_ne!(auth[0], auth[1], "each app connection has its own token");
    // The injected token never reached the guest: it is in no answer.
    let injected = auth[1].trim_start_matches("Bearer ");
    assert!(!body.to_string().contains(injected));

    // Ungranted and inject-only names are refused for reading; an ungranted name is
    // refused for injection too.
    let (_, body) = call("/try", vec![("name", "dropbox")]).await;
    assert_eq!(code(&body).as_deref(), Some("NotPermitted"), "{body}");
    let (_, body) = call("/try", vec![("name", "ms365-oauth")]).await;
    assert_eq!(code(&body).as_deref(), Some("NotPermitted"), "{body}");
    let (_, body) = call("/try", vec![("name", "google-oauth"), ("how", "inject")]).await;
    assert_eq!(code(&body).as_deref(), Some("NotPermitted"), "{body}");

    // The tokens live 2 s: the next call refreshes both through the token manager.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let before = server.stats().await["grantTypes"]["refresh_token"]
        .as_u64()
        .unwrap_or(0);
    let (status, body) = call("/profiles", vec![]).await;
    assert_eq!(status, 200, "{body}");
    let after = server.stats().await["grantTypes"]["refresh_token"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(after, before + 2, "one refresh per app connection");

    // A refresh answer's id_token is validated too: a forged one is refused, the new
    // tokens are not used, and the connection needs a new authorization.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    server.proxy_control("id-token?mode=forge").await;
    let (status, body) = call("/profiles", vec![]).await;
    assert_ne!(status, 200, "{body}");
    let google = services.app_connection("google-oauth").expect("view");
    assert_eq!(google.status, "reauth_required", "{google:?}");
    let reason = google.last_error.unwrap_or_default();
    assert!(
        reason.contains("refreshed id_token") && reason.contains("does not publish"),
        "{reason}"
    );
}
