//! App connections through `keyway serve`'s admin API, against the real authorization
//! server: created with the client secret in the body (never echoed), listed, shown,
//! replaced, authorized through the server's own callback (no connector, so no
//! `postConnect`), revoked and deleted; bad bodies refused by field. Every answer goes
//! through the suite's `send`, so the canary sweep checks none carries the secret.

use keyway_tests::oidc::OidcServer;
use keyway_tests::server::{ADMIN_KEY, Connectors, Server, client, send, with_json};
use serde_json::{Value, json};

const PUBLIC_URL: &str = "http://127.0.0.1:9";
const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";
const CLIENT_SECRET: &str = "canary-app-api-secret-51d0";

fn admin(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    req.bearer_auth(ADMIN_KEY)
}

fn body(oidc: &OidcServer, name: Option<&str>) -> Value {
    let mut b = json!({
        "providerUrl": oidc.issuer.as_str(),
        "issuerUrl": oidc.issuer.as_str(),
        "tokenUrl": oidc.proxied_token_url().as_str(),
        "scopes": ["openid", "offline_access"],
        "clientId": oidc.client_id,
        "clientSecret": CLIENT_SECRET,
    });
    if let Some(name) = name {
        b["name"] = json!(name);
    }
    b
}

#[tokio::test]
async fn the_admin_api_manages_and_authorizes_app_connections() {
    keyway_tests::artifacts::canary(CLIENT_SECRET);
    let oidc = OidcServer::start(CLIENT_SECRET, &[REDIRECT], 3600);
    let connectors = Connectors::new();
    let server = Server::start(
        connectors.path(),
        &[
            "--allow-private-network",
            "127.0.0.1/32",
            "--public-url",
            PUBLIC_URL,
        ],
    );
    let url = |path: &str| server.url(path);

    // Created: the view carries the client id, never the secret.
    let created = send(with_json(
        admin(client().post(url("/v1/app-connections"))),
        &body(&oidc, Some("google-oauth")),
    ))
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["status"], "pending_authorization");
    assert_eq!(created.json["clientId"], oidc.client_id.as_str());
    assert!(!created.text.contains(CLIENT_SECRET));

    // Bad bodies are refused by field; the secret never appears in the refusal.
    let no_name = send(with_json(
        admin(client().post(url("/v1/app-connections"))),
        &body(&oidc, None),
    ))
    .await;
    assert_eq!(no_name.status, 400, "{}", no_name.text);
    assert!(no_name.text.contains("name"), "{}", no_name.text);
    let bad_name = send(with_json(
        admin(client().post(url("/v1/app-connections"))),
        &body(&oidc, Some("Google_OAuth")),
    ))
    .await;
    assert_eq!(bad_name.status, 400, "{}", bad_name.text);
    assert!(bad_name.text.contains("lowercase"), "{}", bad_name.text);
    let mut bad_url = body(&oidc, Some("other"));
    bad_url["providerUrl"] = json!("not a url");
    let bad_url = send(with_json(
        admin(client().post(url("/v1/app-connections"))),
        &bad_url,
    ))
    .await;
    assert_eq!(bad_url.status, 400, "{}", bad_url.text);
    assert!(bad_url.text.contains("providerUrl"), "{}", bad_url.text);
    let taken = send(with_json(
        admin(client().post(url("/v1/app-connections"))),
        &body(&oidc, Some("google-oauth")),
    ))
    .await;
    assert_eq!(taken.status, 409, "{}", taken.text);
    let renamed = send(with_json(
        admin(client().put(url("/v1/app-connections/google-oauth"))),
        &body(&oidc, Some("other-name")),
    ))
    .await;
    assert_eq!(renamed.status, 400, "{}", renamed.text);
    let unknown_field = send(
        admin(client().post(url("/v1/app-connections")))
            .header("content-type", "application/json")
            .body(format!(
                "{{\"name\":\"x\",\"clientSecret\":\"{CLIENT_SECRET}\",\"extra\":1}}"
            )),
    )
    .await;
    assert_eq!(unknown_field.status, 400, "{}", unknown_field.text);
    assert!(!unknown_field.text.contains(CLIENT_SECRET));

    // Replaced: new default scopes, tokens (none yet) kept.
    let mut replaced = body(&oidc, None);
    replaced["scopes"] = json!(["openid", "email", "offline_access"]);
    let replaced = send(with_json(
        admin(client().put(url("/v1/app-connections/google-oauth"))),
        &replaced,
    ))
    .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(
        replaced.json["scopes"],
        json!(["openid", "email", "offline_access"])
    );

    // Authorized through the server's callback: the id_token is validated and its
    // subject recorded; no connector route runs.
    let started = send(admin(
        client().post(url("/v1/app-connections/google-oauth/authorize")),
    ))
    .await;
    assert_eq!(started.status, 200, "{}", started.text);
    let auth_url =
        url::Url::parse(started.json["authorizationUrl"].as_str().expect("URL")).expect("URL");
    assert!(auth_url.as_str().contains("nonce="), "{auth_url}");
    let query = oidc.drive_authorization(&auth_url, REDIRECT).await;
    let done = send(
        client()
            .get(url(&format!("/oauth/callback?{query}")))
            .header("accept", "application/json"),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.json["postConnectError"].is_null(), "{}", done.text);
    let shown = send(admin(client().get(url("/v1/app-connections/google-oauth")))).await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_eq!(shown.json["status"], "connected", "{}", shown.text);
    assert_eq!(shown.json["hasTokens"], true);
    assert_eq!(shown.json["account"]["id"], "test-user", "{}", shown.text);

    // Listed under app connections, not among the connector connections.
    let list = send(admin(client().get(url("/v1/app-connections")))).await;
    assert_eq!(list.json["appConnections"][0]["name"], "google-oauth");
    let connections = send(admin(client().get(url("/v1/connections")))).await;
    assert_eq!(
        connections.json["connections"],
        json!([]),
        "{}",
        connections.text
    );
    let as_connector = send(admin(client().get(url("/v1/connections/google-oauth")))).await;
    assert_eq!(as_connector.status, 404, "{}", as_connector.text);

    // Revoked: the tokens are gone; deleted: not found after.
    let revoked = send(admin(
        client().post(url("/v1/app-connections/google-oauth/revoke")),
    ))
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let shown = send(admin(client().get(url("/v1/app-connections/google-oauth")))).await;
    assert_eq!(shown.json["hasTokens"], false, "{}", shown.text);
    let deleted = send(admin(
        client().delete(url("/v1/app-connections/google-oauth")),
    ))
    .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let gone = send(admin(client().get(url("/v1/app-connections/google-oauth")))).await;
    assert_eq!(gone.status, 404, "{}", gone.text);

    // Without the admin key, nothing.
    let anonymous = send(client().get(url("/v1/app-connections"))).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
}
