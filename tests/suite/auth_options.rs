//! `connection.authOptions` end to end: one connector offering an API key *or* OAuth
//! against a real authorization server (`oidc-provider` on loopback), a real SQLite file
//! and the real compiled component. A connection of each kind is created through the same
//! use case the CLI and the admin API call; the same route (`Api::get`, relative to the
//! option's `connection.api`) reaches a local API that reflects what it is sent with the API key for one and the
//! injected bearer token for the other, and neither credential reaches the guest, the
//! logs or the database in plain text. A missing, unknown or mismatched choice is refused
//! by name.

use keyway_host::catalog::Lookup;
use keyway_host::oauth::CallbackParams;
use keyway_host::runtime::RouteRequest;
use keyway_host::services::{
    AuthorizationStart, Expected, NewConnectionInput, PlainValue, ServiceError, Services,
    SettingsInput,
};
use keyway_host::types::Method;
use keyway_tests::oidc::OidcServer;
use keyway_tests::provider::LocalApi;
use keyway_tests::{components, logs};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const CLIENT_SECRET: &str = "canary-client-secret-auth-options-71c2";
const API_KEY: &str = "canary-api-key-auth-options-5b0e";

fn write_connector(dir: &Path, server: &OidcServer, api: &LocalApi) {
    let conn = dir.join("desk");
    std::fs::create_dir_all(&conn).expect("mkdir");
    let base = format!("http://127.0.0.1:{}", api.addr.port());
    let manifest = json!({
        "key": "desk",
        "name": "Desk",
        "provider": "oidc",
        "kind": "source",
        "version": "0.1.0",
        "permissions": {
            "http": [format!("{base}/*")],
            "secrets": { "api_key": ["inject"] }
        },
        "connection": {
            "settingsSchema": {
                "type": "object",
                "properties": { "team": { "type": "string" } },
                "required": ["team"]
            },
            "authOptions": {
                "apiKey": {
                    "type": "apiKey",
                    "title": "API key",
                    "helpUrl": "https://docs.desk.example/keys",
                    "settingsSchema": {
                        "properties": { "api_key": { "type": "string", "x-secret": true } },
                        "required": ["api_key"]
                    },
                    "inject": {
                        "api_key": [{ "url": format!("{base}/*"), "header": "X-Api-Key" }]
                    },
                    "api": { "baseUrl": format!("{base}/echo"), "auth": { "secret": "api_key" } }
                },
                "oauth": {
                    "type": "oauth",
                    "title": "Sign in",
                    "oauth": {
                        "type": "authorization_code",
                        "issuerUrl": server.issuer.as_str(),
                        "tokenUrlTemplate": server.proxied_token_url().as_str(),
                        "scopes": ["openid", "profile"],
                        "client": { "credentialKey": "desk-app" },
                        "exposeAccessToken": false,
                        "inject": [{ "url": format!("{base}/*") }]
                    },
                    "api": { "baseUrl": format!("{base}/echo"), "auth": "oauth" }
                }
            }
        }
    });
    std::fs::write(
        conn.join("connector.json"),
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
    .expect("write manifest");
    std::fs::copy(components::HOSTILE, conn.join("connector.wasm")).expect("copy component");
}

fn input(name: &str, option: Option<&str>, secret: Option<(&str, &str)>) -> NewConnectionInput {
    let mut secrets = BTreeMap::new();
    if let Some((k, v)) = secret {
        secrets.insert(k.to_string(), SecretString::from(v.to_string()));
    }
    NewConnectionInput {
        name: name.into(),
        connector: "desk".into(),
        lookup: Lookup::KeyOnly,
        auth_option: option.map(str::to_string),
        settings: SettingsInput {
            plain: vec![("team".into(), PlainValue::Text("blue".into()))],
            secret: secrets,
        },
    }
}

async fn api_call(services: &Services, connection: &str) -> Value {
    let mut req = RouteRequest::new(Method::Get, "/api");
    req.query = vec![("path".into(), "/items".into())];
    let res = services.invoke(connection, req).await.expect("route runs");
    serde_json::from_slice(&res.body).expect("JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_route_works_with_an_api_key_connection_and_an_oauth_connection() {
    logs::capture();
    let server = OidcServer::start(CLIENT_SECRET, &[REDIRECT], 300);
    let api = LocalApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let connectors = dir.path().join("connectors");
    write_connector(&connectors, &server, &api);
    let config = keyway_tests::loopback_services_config(dir.path().join("data"), vec![connectors]);
    let data_dir = config.data_dir.clone();
    let services = Services::open(config).expect("services");
    services
        .set_credentials(
            "desk-app",
            &server.client_id,
            Some(&SecretString::from(CLIENT_SECRET)),
        )
        .expect("credentials");

    // Choosing is required, and only what the connector offers is accepted.
    let refused = |r: Result<_, ServiceError>| match r {
        Err(e) => (e.code(), e.to_string()),
        Ok(v) => panic!("accepted: {v:?}"),
    };
    let (code, message) = refused(services.create_connection(input("d0", None, None)));
    assert_eq!(code, "auth_option_invalid");
    assert!(
        message.contains("`apiKey`") && message.contains("`oauth`"),
        "{message}"
    );
    let (code, message) = refused(services.create_connection(input("d0", Some("saml"), None)));
    assert_eq!(code, "auth_option_invalid");
    assert!(message.contains("`saml`"), "{message}");
    // The API-key option needs its key; the OAuth option has no such setting.
    let (code, message) = refused(services.create_connection(input("d0", Some("apiKey"), None)));
    assert_eq!(code, "invalid_input");
    assert!(message.contains("api_key"), "{message}");
    let (_, message) =
        refused(services.create_connection(input("d0", Some("oauth"), Some(("api_key", API_KEY)))));
    assert!(message.contains("unknown setting \"api_key\""), "{message}");
    assert!(!message.contains(API_KEY), "{message}");

    // A connection of each kind.
    let key_conn = services
        .create_connection(input(
            "desk-key",
            Some("apiKey"),
            Some(("api_key", API_KEY)),
        ))
        .expect("API-key connection");
    assert_eq!(key_conn.auth_option.as_deref(), Some("apiKey"));
    assert_eq!(key_conn.credential_key, None);
    let oauth_conn = services
        .create_connection(input("desk-oauth", Some("oauth"), None))
        .expect("OAuth connection");
    assert_eq!(oauth_conn.auth_option.as_deref(), Some("oauth"));
    assert_eq!(oauth_conn.credential_key.as_deref(), Some("desk-app"));

    // An API-key connection has nothing to authorize; the OAuth one goes to the provider.
    let redirect = url::Url::parse(REDIRECT).expect("url");
    assert!(
        services
            .begin_authorization("desk-key", &redirect, None)
            .await
            .is_err(),
        "an API-key connection is not sent to a provider"
    );
    let AuthorizationStart::Redirect(request) = services
        .begin_authorization("desk-oauth", &redirect, None)
        .await
        .expect("authorization URL")
    else {
        panic!("the oauth option is an authorization-code flow");
    };
    let query = server.drive_authorization(&request.url, REDIRECT).await;
    let callback = CallbackParams::from_query(&query).expect("callback");
    services
        .complete_authorization(&callback, Some(Expected::Connection("desk-oauth")))
        .await
        .expect("code exchange");

    // The same route, relative to each option's API, with each option's credential.
    let v = api_call(&services, "desk-key").await;
    assert_eq!(v["value"]["status"], 200, "{v}");
    let seen = api.seen();
    let hit = seen.last().expect("a request");
    assert_eq!(hit.path, "/echo/items");
    assert_eq!(hit.header("x-api-key"), Some(API_KEY));
    assert_eq!(hit.header("authorization"), None);
    // The API reflects what it was sent; the host scrubbed the key from the answer.
    assert!(!v.to_string().contains(API_KEY), "{v}");

    let v = api_call(&services, "desk-oauth").await;
    assert_eq!(v["value"]["status"], 200, "{v}");
    let seen = api.seen();
    let hit = seen.last().expect("a request");
    assert_eq!(hit.path, "/echo/items");
    assert_eq!(hit.header("x-api-key"), None);
    let token = hit
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .expect("the bearer token was injected")
        .to_string();
    assert!(!v.to_string().contains(&token), "{v}");

    // Each connection's doors follow its own option: the key is not the OAuth one's.
    let mut req = RouteRequest::new(Method::Get, "/token");
    req.query = Vec::new();
    let res = services.invoke("desk-oauth", req).await.expect("runs");
    let v: Value = serde_json::from_slice(&res.body).expect("json");
    assert_eq!(v["code"], "not_permitted", "strict custody: {v}");
    let mut req = RouteRequest::new(Method::Get, "/http");
    req.query = vec![
        ("url".into(), api.url("/raw")),
        ("auth".into(), "secret".into()),
        ("secret".into(), "api_key".into()),
    ];
    let res = services.invoke("desk-oauth", req).await.expect("runs");
    let v: Value = serde_json::from_slice(&res.body).expect("json");
    assert_eq!(v["ok"], false, "the OAuth connection has no API key: {v}");

    // The chosen option shows, and the settings update keeps it.
    let shown = services.show_connection("desk-key").expect("shown");
    assert_eq!(shown.auth_option.as_deref(), Some("apiKey"));
    let shown = serde_json::to_value(&shown).expect("view");
    assert_eq!(shown["authOption"], "apiKey");
    assert!(!shown.to_string().contains(API_KEY));

    // No credential in plain text in what the store holds or the logs.
    let db = keyway_tests::backend::stored_bytes(&data_dir);
    let logs = logs::captured();
    for canary in [CLIENT_SECRET, API_KEY, token.as_str()] {
        assert!(
            !db.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "a secret is in the database in plain text"
        );
        assert!(!logs.contains(canary), "a secret reached the logs");
    }
}

/// The operator's side: `connectors list` shows the options, `connections create` takes
/// `--auth-option` (the key from an environment variable, never argv), and a missing or
/// unknown choice exits non-zero naming the options.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_the_options_and_creates_a_connection_with_one() {
    let server = OidcServer::start(CLIENT_SECRET, &[REDIRECT], 300);
    let api = LocalApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let connectors = dir.path().join("connectors");
    write_connector(&connectors, &server, &api);
    let keyway = |args: &[&str]| {
        keyway_tests::keyway_command(&dir.path().join("data"))
            .args(args)
            .env("KEYWAY_CONNECTORS", &connectors)
            .env("KEYWAY_LOG", "warn")
            .env("DESK_KEY", API_KEY)
            .env_remove("KEYWAY_MASTER_KEY")
            .output()
            .expect("run keyway")
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();

    let listed = keyway(&["connectors", "list", connectors.to_str().expect("utf-8")]);
    let out = text(&listed.stdout);
    assert!(listed.status.success(), "{out}{}", text(&listed.stderr));
    assert!(
        out.contains("auth option apiKey (apiKey): API key [settings: api_key, team]"),
        "{out}"
    );
    assert!(
        out.contains("auth option oauth (oauth): Sign in [settings: team]"),
        "{out}"
    );

    let none = keyway(&["connections", "create", "c1", "--connector", "desk"]);
    assert!(!none.status.success());
    let err = text(&none.stderr);
    assert!(err.contains("choose one of `apiKey`, `oauth`"), "{err}");
    let unknown = keyway(&[
        "connections",
        "create",
        "c1",
        "--connector",
        "desk",
        "--auth-option",
        "saml",
    ]);
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("no auth option `saml`"));

    let made = keyway(&[
        "connections",
        "create",
        "c1",
        "--connector",
        "desk",
        "--auth-option",
        "apiKey",
        "--setting",
        "team=blue",
        "--secret-env",
        "api_key=DESK_KEY",
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let shown = keyway(&["connections", "show", "c1", "--json"]);
    let view: Value = serde_json::from_slice(&shown.stdout).expect("JSON view");
    assert_eq!(view["authOption"], "apiKey");
    assert_eq!(view["secretSettings"], json!(["api_key"]));
    for out in [&listed, &none, &unknown, &made, &shown] {
        assert!(!text(&out.stdout).contains(API_KEY));
        assert!(!text(&out.stderr).contains(API_KEY));
    }
}
