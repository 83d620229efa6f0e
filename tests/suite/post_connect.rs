//! A `postConnect` route that fails with a body carrying a secret setting: the error is
//! redacted (then clipped) with the invocation's redactor before it is logged at WARN,
//! returned as `postConnectError` on the unauthenticated callback page, or stored in the
//! invocation history. Driven through a real `keyway serve` and a token endpoint on
//! loopback that answers every code exchange.

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use keyway_tests::components;
use keyway_tests::server::{ADMIN_KEY, Connectors, Server, with_json};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The secret setting; its first six characters appear nowhere else.
const CANARY: &str = "Vw3Jt8-post-connect-canary-92be";
const CANARY_HEAD: &str = "Vw3Jt8";
const CLIENT_SECRET: &str = "Ck5Rp1-client-secret-canary-44aa";
const ACCESS_TOKEN: &str = "Tm6Yh4-access-token-canary-7d01";

/// A token endpoint that grants every code exchange; returns its address.
async fn token_endpoint() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(|_req| async {
                    let body = json!({
                        "access_token": ACCESS_TOKEN,
                        "token_type": "Bearer",
                        "expires_in": 3600,
                        "scope": "read"
                    });
                    let mut res = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
                    res.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, std::convert::Infallible>(res)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn manifest(token: std::net::SocketAddr) -> String {
    json!({
        "key": "leaky", "name": "Leaky postConnect", "provider": "test", "kind": "source",
        "version": "0.1.0",
        "permissions": { "http": [], "secrets": { "api_token": ["read"] } },
        "connection": {
            "settingsSchema": {
                "type": "object",
                "properties": { "api_token": { "type": "string", "x-secret": true } }
            },
            "oauth": {
                "type": "authorization_code",
                "authorizationUrlTemplate": format!("http://{token}/authorize"),
                "tokenUrlTemplate": format!("http://{token}/token"),
                "scopes": ["read"],
                "client": { "credentialKey": "leaky-app" },
                "postConnect": { "route": "/post-connect-fail", "method": "GET" }
            }
        }
    })
    .to_string()
}

/// Sends `req`; answers (status, body).
async fn send(req: reqwest::RequestBuilder) -> (u16, String) {
    let answer = keyway_tests::server::send(req).await;
    (answer.status, answer.text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_post_connect_never_shows_a_secret_on_the_callback_page_or_in_logs() {
    let token = token_endpoint().await;
    let connectors = Connectors::new();
    connectors.add("leaky", &manifest(token), components::HOSTILE);
    let server = Server::start(
        connectors.path(),
        &["--allow-private-network", "127.0.0.1/32"],
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let admin = |req: reqwest::RequestBuilder| req.bearer_auth(ADMIN_KEY);

    let (status, text) = send(with_json(
        admin(http.put(server.url("/v1/credentials/leaky-app"))),
        &json!({ "clientId": "leaky-client", "clientSecret": CLIENT_SECRET }),
    ))
    .await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = send(with_json(
        admin(http.post(server.url("/v1/connections"))),
        &json!({
            "name": "leaky-conn",
            "connector": "leaky",
            "secretSettings": { "api_token": CANARY }
        }),
    ))
    .await;
    assert_eq!(status, 201, "{text}");
    let (status, text) = send(admin(
        http.post(server.url("/v1/connections/leaky-conn/authorize")),
    ))
    .await;
    assert_eq!(status, 200, "{text}");
    let start: Value = serde_json::from_str(&text).expect("json");
    let auth_url = url::Url::parse(start["authorizationUrl"].as_str().expect("url")).expect("url");
    let state = auth_url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");

    // The provider sends the user back: the code is exchanged, then postConnect fails.
    let callback = format!(
        "{}?code=any-code&state={}",
        server.url("/oauth/callback"),
        url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
    );
    let (status, page) = send(http.get(&callback).header("accept", "application/json")).await;
    assert_eq!(status, 200, "{page}");
    let answer: Value = serde_json::from_str(&page).expect("json");
    let error = answer["postConnectError"]
        .as_str()
        .unwrap_or_else(|| panic!("postConnect failed and says so: {page}"));
    assert!(
        error.contains("answered 500") && error.contains("[REDACTED]"),
        "{error}"
    );
    assert!(
        !page.contains(CANARY_HEAD),
        "the callback page shows the secret: {page}"
    );

    let (_, history) = send(admin(
        http.get(server.url("/v1/connections/leaky-conn/invocations")),
    ))
    .await;
    assert!(history.contains("post-connect-fail"), "{history}");
    assert!(!history.contains(CANARY_HEAD), "{history}");

    let logs = server.logs();
    assert!(logs.contains("postConnect failed"), "{logs}");
    for canary in [CANARY_HEAD, CLIENT_SECRET, ACCESS_TOKEN] {
        assert!(!logs.contains(canary), "{canary} reached the logs");
        assert!(!server.stdout().contains(canary), "{canary} reached stdout");
    }
}
