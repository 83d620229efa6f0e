//! The console's Credentials page and its form, over plain HTTP against the real
//! `keyway serve --sandbox`: every credential key the connectors' OAuth blocks name (and
//! the stored ones none names), with who names it; a post refused without the session's
//! token or from another origin, a bad field named and nothing stored; then credentials
//! stored, shown ("set" and the client id) and deleted after the confirmation page. A
//! canary client secret is in no answer (body or header), redirect, log line or database
//! file.

use keyway_tests::server::{ADMIN_KEY, Connectors, Server};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use keyway_tests::console::{client, csrf, location, login};

use super::{SANDBOX, get};

/// A canary client secret: no page, header, redirect or log line may hold it.
const CLIENT_SECRET: &str = "canary-console-client-secret-9d4e";

/// The sandbox, plus `helpdesk` (a connector whose `oauth` and `server` auth options name
/// `helpdesk-app` and `helpdesk-server`) and `helpdesk-eu`, a second connector naming
/// the same keys.
fn credentials_server() -> (Connectors, Server) {
    let connectors = Connectors::new();
    connectors.add_sandbox();
    let text = std::fs::read_to_string(
        keyway_tests::workspace_root().join("tests/manifests/valid/auth_options.json"),
    )
    .expect("manifest");
    connectors.add("helpdesk", &text, keyway_tests::components::HOSTILE);
    let mut eu: Value = serde_json::from_str(&text).expect("json");
    eu["key"] = json!("helpdesk-eu");
    eu["name"] = json!("Helpdesk EU");
    connectors.add(
        "helpdesk-eu",
        &eu.to_string(),
        keyway_tests::components::HOSTILE,
    );
    let server = Server::start(connectors.path(), &["--sandbox"]);
    (connectors, server)
}

/// An answer's status, `Location` and everything it carried (headers and body), read
/// whole so a test can look for what must not be there.
async fn whole(res: Response) -> (StatusCode, String, String) {
    let status = res.status();
    let to = location(&res);
    let headers = format!("{:?}", res.headers());
    let body = res.text().await.unwrap_or_default();
    (status, to, format!("{headers}\n{body}"))
}

/// The table row of a credentials page that holds `key`.
fn row<'a>(html: &'a str, key: &str) -> &'a str {
    let at = html
        .find(&format!("<td><code>{key}</code></td>"))
        .unwrap_or_else(|| panic!("a row for {key}: {html}"));
    let rest = &html[at..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

/// Fails when an answer (headers and body) holds the canary client secret or the admin
/// key.
fn clean(all: &str) {
    assert!(
        !all.contains(CLIENT_SECRET),
        "an answer holds the client secret:\n{all}"
    );
    assert!(
        !all.contains(ADMIN_KEY),
        "an answer holds the admin key:\n{all}"
    );
}

/// The credentials the server's store holds under `key`: (client id, client secret).
fn stored(server: &Server, key: &str) -> Option<(String, String)> {
    use secrecy::ExposeSecret;
    let store = keyway_tests::backend::reopen_store(&server.data_path());
    store.credentials(key).ok().map(|c| {
        (
            c.client_id,
            c.client_secret
                .map(|s| s.expose_secret().to_string())
                .unwrap_or_default(),
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credentials_page_lists_every_key_the_connectors_name() {
    let _one = SANDBOX.lock().await;
    keyway_tests::artifacts::canary(CLIENT_SECRET);
    let (_connectors, server) = credentials_server();
    let http = client();
    // A key stored through the admin API that no loaded connector names.
    let res = http
        .put(server.url("/v1/credentials/orphan-app"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body(json!({ "clientId": "orphan-client-id", "clientSecret": CLIENT_SECRET }).to_string())
        .send()
        .await
        .expect("PUT");
    assert_eq!(res.status(), StatusCode::OK);
    server.create_connection("shop", "sandbox").await;

    let cookie = login(&http, &server).await;
    let (status, html) = get(&http, &server, &cookie, "/console/credentials").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("href=\"/console/credentials\""),
        "in the navigation"
    );
    // Each OAuth option's key, with every connector (and option) that names it.
    let app = row(&html, "helpdesk-app");
    for user in [
        "helpdesk (option <code>oauth</code>)",
        "helpdesk-eu (option <code>oauth</code>)",
    ] {
        assert!(app.contains(user), "{app}");
    }
    assert!(app.contains("not set") && app.contains("Set…"), "{app}");
    assert!(!app.contains("Delete…"), "nothing stored to delete: {app}");
    let server_key = row(&html, "helpdesk-server");
    assert!(
        server_key.contains("helpdesk-eu (option <code>server</code>)"),
        "{server_key}"
    );
    // The sandbox's own, stored at start: set, with its client id and when.
    let sandbox = row(&html, "sandbox");
    assert!(
        sandbox.contains(">set<") && sandbox.contains("UTC"),
        "{sandbox}"
    );
    assert!(
        sandbox.contains("Replace…") && sandbox.contains("Delete…"),
        "{sandbox}"
    );
    // A stored key no connector names comes after the named ones.
    let (named, other) = html
        .split_once("Stored, named by no loaded connector")
        .expect("a section for keys no connector names");
    assert!(!named.contains("orphan-app"));
    let orphan = row(other, "orphan-app");
    assert!(orphan.contains("orphan-client-id") && orphan.contains("no loaded connector"));
    // The apiKey and basic options name no key.
    assert!(!html.contains("option <code>apiKey</code>"));

    // Deleting asks first, naming the connections that use the key.
    let (status, html) = get(
        &http,
        &server,
        &cookie,
        "/console/credentials/sandbox/confirm/delete",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("shop"), "{html}");
    let (status, _) = get(
        &http,
        &server,
        &cookie,
        "/console/credentials/helpdesk-app/confirm/delete",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing stored to delete");
    let (status, _) = get(&http, &server, &cookie, "/console/credentials/app:shop").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not a credential key");
    for path in ["/console/credentials", "/console/credentials/orphan-app"] {
        let (_, html) = get(&http, &server, &cookie, path).await;
        assert!(!html.contains(CLIENT_SECRET), "{path} shows the secret");
    }
    assert!(!server.logs().contains(CLIENT_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_set_only_by_a_checked_form_and_never_shown() {
    let _one = SANDBOX.lock().await;
    keyway_tests::artifacts::canary(CLIENT_SECRET);
    let (_connectors, server) = credentials_server();
    let http = client();
    let cookie = login(&http, &server).await;
    let origin = server.base.trim_end_matches('/').to_string();

    let (status, form) = get(&http, &server, &cookie, "/console/credentials/helpdesk-app").await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("name=\"client_id\" type=\"text\""), "{form}");
    let secret_field = form
        .split("name=\"client_secret\"")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .expect("a client secret field");
    assert!(secret_field.contains("type=\"password\""), "{secret_field}");
    assert!(
        !secret_field.contains("value="),
        "never filled in: {secret_field}"
    );
    clean(&form);
    let token = csrf(&form);
    let post = |path: &str, csrf: &str, id: &str, secret: &str, origin: Option<&str>| {
        let mut req = http
            .post(server.url(path))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf), ("client_id", id), ("client_secret", secret)]);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.send()
    };
    let path = "/console/credentials/helpdesk-app";

    // Without the token, with a wrong one, or from another origin: refused, nothing stored.
    for (csrf, from) in [
        ("", Some(origin.as_str())),
        ("forged", Some(origin.as_str())),
        (token.as_str(), Some("http://evil.example")),
    ] {
        let res = post(path, csrf, "desk-client-id", CLIENT_SECRET, from)
            .await
            .expect("POST");
        let (status, _, all) = whole(res).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{all}");
        clean(&all);
    }
    assert_eq!(stored(&server, "helpdesk-app"), None, "nothing was stored");

    // A bad field re-shows the form naming it, keeps the client id, never the secret, and
    // stores nothing.
    let long_id = "i".repeat(600);
    let long_secret = format!("{CLIENT_SECRET}{}", "s".repeat(5000));
    for (path, id, secret, named) in [
        (path, "", CLIENT_SECRET, "client id"),
        (path, "desk-client-id", "", "client secret"),
        (path, long_id.as_str(), CLIENT_SECRET, "client id"),
        (
            path,
            "desk-client-id",
            long_secret.as_str(),
            "client secret",
        ),
        (path, "desk\nclient", CLIENT_SECRET, "client id"),
        (
            "/console/credentials/bad%20key",
            "desk-client-id",
            CLIENT_SECRET,
            "credential key",
        ),
    ] {
        let res = post(path, &token, id, secret, Some(&origin))
            .await
            .expect("POST");
        let (status, to, all) = whole(res).await;
        clean(&all);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{named}: {all}");
        assert!(to.is_empty(), "re-shown, not redirected: {to}");
        assert!(
            all.contains("class=\"error\"") && all.contains(named),
            "{named}: {all}"
        );
        assert!(
            all.contains("name=\"client_secret\""),
            "the form again: {all}"
        );
        if id == "desk-client-id" {
            assert!(
                all.contains("value=\"desk-client-id\""),
                "the id is kept: {all}"
            );
        }
    }
    assert_eq!(stored(&server, "helpdesk-app"), None, "nothing was stored");
    assert_eq!(stored(&server, "bad key"), None);

    // With the token, from the console: stored, and the page says so.
    let res = post(path, &token, "desk-client-id", CLIENT_SECRET, Some(&origin))
        .await
        .expect("POST");
    let (status, to, all) = whole(res).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{all}");
    assert_eq!(to, "/console/credentials?done=stored");
    clean(&all);
    assert_eq!(
        stored(&server, "helpdesk-app"),
        Some(("desk-client-id".to_string(), CLIENT_SECRET.to_string()))
    );
    let (_, html) = get(&http, &server, &cookie, &to).await;
    assert!(html.contains("Credentials stored."), "{html}");
    let app = row(&html, "helpdesk-app");
    assert!(
        app.contains(">set<") && app.contains("<code>desk-client-id</code>"),
        "{app}"
    );
    assert!(app.contains("Replace…"), "{app}");
    clean(&html);
    let (_, html) = get(&http, &server, &cookie, path).await;
    assert!(
        html.contains("desk-client-id") && html.contains("Replace"),
        "{html}"
    );
    clean(&html);

    // A public client: the box ticked and no secret stores none; the box with a secret
    // is refused, naming the box, and stores nothing.
    let public = |csrf: &str, id: &str, secret: &str| {
        http.post(server.url("/console/credentials/helpdesk-server"))
            .header("cookie", &cookie)
            .header("origin", origin.as_str())
            .form(&[
                ("csrf", csrf),
                ("client_id", id),
                ("client_secret", secret),
                ("public_client", "on"),
            ])
            .send()
    };
    let (status, _, all) =
        whole(public(&token, "pub-id", CLIENT_SECRET).await.expect("POST")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{all}");
    assert!(all.contains("public client"), "{all}");
    clean(&all);
    assert_eq!(stored(&server, "helpdesk-server"), None);
    let (status, to, all) = whole(public(&token, "pub-id", "").await.expect("POST")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{all}");
    assert_eq!(to, "/console/credentials?done=stored");
    assert_eq!(
        stored(&server, "helpdesk-server"),
        Some(("pub-id".to_string(), String::new())),
        "stored with no secret"
    );
    let (_, html) = get(&http, &server, &cookie, &to).await;
    assert!(
        row(&html, "helpdesk-server").contains("a public client"),
        "{html}"
    );

    // Replacing needs the secret again; a bad post leaves the stored ones as they were.
    let res = post(path, &token, "other-id", "", Some(&origin))
        .await
        .expect("POST");
    let (status, _, all) = whole(res).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    clean(&all);
    assert_eq!(
        stored(&server, "helpdesk-app").map(|c| c.0).as_deref(),
        Some("desk-client-id")
    );

    // Delete: refused without the token, done with it after the confirmation page.
    let (status, html) = get(
        &http,
        &server,
        &cookie,
        "/console/credentials/helpdesk-app/confirm/delete",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("action=\"/console/credentials/helpdesk-app/delete\""),
        "{html}"
    );
    clean(&html);
    let delete = |csrf: &str| {
        http.post(server.url("/console/credentials/helpdesk-app/delete"))
            .header("cookie", &cookie)
            .header("origin", &origin)
            .form(&[("csrf", csrf)])
            .send()
    };
    let (status, _, all) = whole(delete("").await.expect("POST")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    clean(&all);
    assert!(stored(&server, "helpdesk-app").is_some(), "still there");
    let (status, to, all) = whole(delete(&token).await.expect("POST")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(to, "/console/credentials?done=deleted");
    clean(&all);
    assert_eq!(stored(&server, "helpdesk-app"), None);
    let (_, html) = get(&http, &server, &cookie, &to).await;
    assert!(row(&html, "helpdesk-app").contains("not set"), "{html}");
    clean(&html);

    // Every answer was clean as it came; nor is the canary in the log or the store.
    assert!(
        !server.logs().contains(CLIENT_SECRET),
        "the log holds the client secret"
    );
    assert!(!server.stdout().contains(CLIENT_SECRET));
    let stored = keyway_tests::backend::stored_bytes(&server.data_path());
    assert!(
        !stored
            .windows(CLIENT_SECRET.len())
            .any(|w| w == CLIENT_SECRET.as_bytes()),
        "the store holds the client secret in the clear"
    );
}
