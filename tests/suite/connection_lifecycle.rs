//! A connection's life through both edges, which share one set of use cases: created and
//! shown in camelCase without bookkeeping, its settings updated over the admin API (the
//! running server sees it on the next call) and from the CLI (seen within the change check), a secret refused
//! as a plain setting without being echoed, settings that stop matching a connector whose
//! manifest changed on disk answered as a conflict naming the setting (not a 500), then
//! fixed, and the CLI's exit codes following the failure's kind.

use keyway_tests::components;
use keyway_tests::server::{ADMIN_KEY, Answer, Connectors, Server, client, send, until, with_json};
use serde_json::{Value, json};

const SECRET: &str = "canary-lifecycle-secret-5b1f";

fn manifest(max_greeting: Option<u64>) -> String {
    let mut greeting = json!({ "type": "string", "title": "Greeting" });
    if let Some(max) = max_greeting {
        greeting["maxLength"] = json!(max);
    }
    json!({
        "key": "hello", "name": "Hello", "provider": "none", "kind": "source",
        "version": "0.1.0",
        "permissions": { "http": [], "entities": {}, "secrets": { "api_token": ["read"] } },
        "connection": {
            "settingsSchema": {
                "type": "object",
                "properties": {
                    "greeting": greeting,
                    "api_token": { "type": "string", "x-secret": true }
                }
            }
        }
    })
    .to_string()
}

async fn admin(req: reqwest::RequestBuilder, body: Option<Value>) -> Answer {
    let req = req.bearer_auth(ADMIN_KEY);
    send(match body {
        Some(b) => with_json(req, &b),
        None => req,
    })
    .await
}

async fn greet(server: &Server, key: &str) -> Answer {
    send(
        client()
            .get(server.url("/v1/connections/greet/routes/greet?name=x"))
            .bearer_auth(key),
    )
    .await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn settings_change_through_both_edges_and_a_changed_manifest_is_a_conflict() {
    let connectors = Connectors::new();
    connectors.add("hello", &manifest(None), components::HELLO);
    let server = Server::start(connectors.path(), &[]);
    let dirs = connectors.path().display().to_string();
    let cli = |args: &[&str]| {
        let mut all = vec!["--connectors", dirs.as_str()];
        all.extend_from_slice(args);
        server.cli(&all)
    };
    let http = client();
    let (_, key) = server.create_api_key("caller");

    let created = admin(
        http.post(server.url("/v1/connections")),
        Some(json!({ "name": "greet", "connector": "hello", "settings": { "greeting": "Hi" } })),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    for field in ["secretSettings", "createdAt", "hasTokens", "tokenExpiresAt"] {
        assert!(
            created.json.get(field).is_some(),
            "{field}: {}",
            created.text
        );
    }
    for bookkeeping in [
        "token_generation",
        "tokenGeneration",
        "cooldownUntil",
        "created_at",
    ] {
        assert!(
            created.json.get(bookkeeping).is_none(),
            "{bookkeeping}: {}",
            created.text
        );
    }
    assert_eq!(greet(&server, &key).await.json["message"], "Hi, x!");

    // Over the API: the next call sees the new value.
    let updated = admin(
        http.patch(server.url("/v1/connections/greet")),
        Some(json!({ "settings": { "greeting": "Howdy" } })),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json["settings"]["greeting"], "Howdy");
    assert_eq!(greet(&server, &key).await.json["message"], "Howdy, x!");

    // A secret given as a plain setting is refused by name and never echoed.
    let refused = admin(
        http.patch(server.url("/v1/connections/greet")),
        Some(json!({ "settings": { "api_token": SECRET } })),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json["error"]["code"], "secret_as_plain");
    assert!(refused.text.contains("secretSettings"), "{}", refused.text);
    assert!(!refused.text.contains(SECRET));
    let sealed = admin(
        http.patch(server.url("/v1/connections/greet")),
        Some(json!({ "secretSettings": { "api_token": SECRET } })),
    )
    .await;
    assert_eq!(sealed.status, 200, "{}", sealed.text);
    assert_eq!(sealed.json["secretSettings"], json!(["api_token"]));
    assert_eq!(
        sealed.json["settings"]["greeting"], "Howdy",
        "the rest is kept"
    );
    assert!(!sealed.text.contains(SECRET));

    // From the CLI, another process on the same store: the server sees it too.
    let out = cli(&[
        "connections",
        "update",
        "greet",
        "--setting",
        "greeting=Hey",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = until(|| greet(&server, &key), |a| a.json["message"] == "Hey, x!").await;
    assert_eq!(seen.json["message"], "Hey, x!", "{}", seen.text);
    let out = cli(&["connections", "show", "greet", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(shown["settings"]["greeting"], "Hey");
    assert_eq!(shown["secretSettings"], json!(["api_token"]));
    assert!(!text(&out.stdout).contains(SECRET));

    // The connector's manifest changes on disk: "Hey" no longer fits. The server reads
    // the manifest again and answers a conflict that names the setting.
    std::fs::write(
        connectors.path().join("hello").join("connector.json"),
        manifest(Some(2)),
    )
    .expect("rewrite the manifest");
    let conflict = until(|| greet(&server, &key), |a| a.status != 200).await;
    assert_eq!(conflict.status, 409, "{}", conflict.text);
    assert_eq!(conflict.json["error"]["code"], "stored_settings_invalid");
    let message = conflict.json["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("greeting"), "{message}");
    assert!(!conflict.text.contains(SECRET));

    // Settings that fit the new manifest make the connection work again.
    let fixed = admin(
        http.patch(server.url("/v1/connections/greet")),
        Some(json!({ "settings": { "greeting": "Yo" } })),
    )
    .await;
    assert_eq!(fixed.status, 200, "{}", fixed.text);
    assert_eq!(greet(&server, &key).await.json["message"], "Yo, x!");

    // Exit codes follow the failure's kind; messages name what is wrong.
    let out = cli(&["connections", "show", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`nope` not found"),
        "{}",
        text(&out.stderr)
    );
    let out = cli(&[
        "connections",
        "update",
        "greet",
        "--setting",
        &format!("api_token={SECRET}"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("secret setting"),
        "{}",
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains(SECRET));
    let out = cli(&[
        "connections",
        "update",
        "greet",
        "--setting",
        "greeting=Hello",
    ]);
    assert_eq!(out.status.code(), Some(2), "too long for the new manifest");
    assert!(
        text(&out.stderr).contains("greeting"),
        "{}",
        text(&out.stderr)
    );

    let deleted = admin(http.delete(server.url("/v1/connections/greet")), None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let gone = admin(http.get(server.url("/v1/connections/greet")), None).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json["error"]["code"], "not_found");
}
