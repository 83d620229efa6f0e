//! Start-up refuses ambiguity: two connector directories declaring one key (one in
//! strict custody, one exposing the access token) are both skipped, with an error naming
//! both directories, at start-up and in `GET /v1/connectors`; no connection can be made
//! for the key; a third connector still serves. `keyway connectors list` reports both.

use keyway_tests::components;
use keyway_tests::server::{ADMIN_KEY, Connectors, Server};
use serde_json::{Value, json};

fn manifest(expose: bool) -> String {
    json!({
        "key": "dup", "name": "Duplicate", "provider": "test", "kind": "source",
        "version": "0.1.0", "permissions": { "http": ["https://api.example.test/*"] },
        "connection": {
            "oauth": {
                "type": "authorization_code",
                "authorizationUrlTemplate": "https://auth.example.test/authorize",
                "tokenUrlTemplate": "https://auth.example.test/token",
                "scopes": ["read"],
                "client": { "credentialKey": "dup-app" },
                "exposeAccessToken": expose,
                "inject": [{ "url": "https://api.example.test/*" }]
            }
        }
    })
    .to_string()
}

/// Sends `req`; answers (status, JSON body, body text).
async fn send(req: reqwest::RequestBuilder) -> (u16, Value, String) {
    let answer = keyway_tests::server::send(req).await;
    (answer.status, answer.json, answer.text)
}

#[tokio::test]
async fn two_connectors_with_one_key_are_both_skipped_and_the_rest_serve() {
    let connectors = Connectors::new();
    connectors.add("strict", &manifest(false), components::HOSTILE);
    connectors.add("shadow", &manifest(true), components::HOSTILE);
    connectors.add_misbehave();
    let strict = connectors.path().join("strict").display().to_string();
    let shadow = connectors.path().join("shadow").display().to_string();
    let server = Server::start(connectors.path(), &[]);
    let names_both = |text: &str| text.contains(&strict) && text.contains(&shadow);

    let http = reqwest::Client::new();
    let (status, list, text) = send(
        http.get(server.url("/v1/connectors"))
            .bearer_auth(ADMIN_KEY),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let keys: Vec<&str> = list["connectors"]
        .as_array()
        .expect("connectors")
        .iter()
        .filter_map(|c| c["key"].as_str())
        .collect();
    assert_eq!(keys, vec!["misbehave"], "{text}");
    let skipped = list["skipped"].as_array().expect("skipped");
    assert_eq!(skipped.len(), 2, "{text}");
    let mut dirs: Vec<&str> = skipped.iter().filter_map(|s| s["dir"].as_str()).collect();
    dirs.sort();
    assert_eq!(dirs, vec![shadow.as_str(), strict.as_str()]);
    for s in skipped {
        let error = s["error"].as_str().expect("error");
        assert!(names_both(error) && error.contains("`dup`"), "{error}");
    }

    // Nothing serves the key.
    let (status, _, text) = send(
        http.post(server.url("/v1/connections"))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(json!({ "name": "d", "connector": "dup" }).to_string()),
    )
    .await;
    assert_eq!(status, 400, "{text}");

    // The third connector works.
    let (status, _, text) = send(
        http.post(server.url("/v1/connections"))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(json!({ "name": "m", "connector": "misbehave" }).to_string()),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let (_, key) = server.create_api_key("caller");
    let (status, _, text) = send(
        http.get(server.url("/v1/connections/m/routes/ok"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!((status, text.as_str()), (200, "ok"));

    // At start-up: one line per skipped directory, each naming both. They are printed
    // before the server answers anything; give the pipe's reader a moment (a bound on a
    // hang, not a timing assertion).
    let mut stdout = server.stdout();
    for _ in 0..100 {
        if stdout.matches("skipped connector").count() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        stdout = server.stdout();
    }
    let skipped: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("skipped connector"))
        .collect();
    assert_eq!(skipped.len(), 2, "{stdout}");
    assert!(skipped.iter().all(|l| names_both(l)), "{stdout}");

    // The CLI's listing refuses the same directories.
    let out = server.cli(&[
        "connectors",
        "list",
        &connectors.path().display().to_string(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let refused: Vec<&str> = stderr.lines().filter(|l| l.contains("`dup`")).collect();
    assert_eq!(refused.len(), 2, "{stderr}");
    assert!(refused.iter().all(|l| names_both(l)), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("misbehave"),
        "the other connector is listed"
    );
}
