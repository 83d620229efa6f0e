//! Token hooks end to end: a real compiled component (`tests/components/token-hooks`)
//! shapes the exchanges of a provider whose token endpoint takes JSON and wraps its answer
//! (the `/json-token` mode of the `oidc-provider` harness), through `Services`, with a real
//! SQLite file. The authorization stores the answer's `tenant` as a setting, a route's
//! calls carry the token, a forced refresh goes through `refreshRequest` and keeps the
//! refresh token its answer omitted, and no hook ever receives the client secret, the
//! code, the verifier, a refresh token, an id_token or (strict custody) an access token.
//! Hooks that trap, loop or answer what the host refuses fail cleanly, store nothing, and
//! the host goes on serving.

use keyway_host::catalog::Lookup;
use keyway_host::oauth::CallbackParams;
use keyway_host::runtime::RouteRequest;
use keyway_host::services::{
    AuthorizationStart, Expected, NewConnectionInput, PlainValue, Services, SettingsInput,
};
use keyway_host::types::Method;
use keyway_tests::oidc::OidcServer;
use keyway_tests::provider::LocalApi;
use keyway_tests::{components, logs};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const CLIENT_SECRET: &str = "canary-hooks-client-secret-4b1e";
const SECRET_SETTING: &str = "canary-hooks-secret-setting-8c2d";

fn write_connector(dir: &Path, server: &OidcServer, api: &LocalApi) {
    let conn = dir.join("hooks");
    std::fs::create_dir_all(&conn).expect("mkdir");
    let manifest = json!({
        "key": "hooks",
        "name": "Token hooks",
        "provider": "json-provider",
        "kind": "source",
        "version": "0.1.0",
        "permissions": {
            "http": [format!("http://127.0.0.1:{}/*", api.addr.port())],
            "secrets": { "clientNote": ["read"] }
        },
        "connection": {
            "settingsSchema": {
                "type": "object",
                "properties": {
                    "tenant": { "type": "string" },
                    "hookMode": { "type": "string" },
                    "clientNote": { "type": "string", "x-secret": true }
                }
            },
            "oauth": {
                "type": "authorization_code",
                "authorizationUrlTemplate": format!("{}auth", server.issuer),
                "tokenUrlTemplate": format!("http://127.0.0.1:{}/json-token", server.proxy_port),
                "scopes": ["openid", "profile"],
                "client": { "credentialKey": "hooks-app" },
                "exposeAccessToken": false,
                "inject": [{ "url": format!("http://127.0.0.1:{}/*", api.addr.port()) }],
                "hooks": ["tokenRequest", "refreshRequest", "credentialsFromTokenResponse"]
            }
        }
    });
    std::fs::write(
        conn.join("connector.json"),
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
    .expect("write manifest");
    std::fs::copy(components::TOKEN_HOOKS, conn.join("connector.wasm")).expect("component");
}

struct Host {
    server: OidcServer,
    api: LocalApi,
    services: Services,
    data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

async fn host() -> Host {
    logs::capture();
    let server = OidcServer::start(CLIENT_SECRET, &[REDIRECT], 300);
    let api = LocalApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let connectors = dir.path().join("connectors");
    write_connector(&connectors, &server, &api);
    let mut config =
        keyway_tests::loopback_services_config(dir.path().join("data"), vec![connectors]);
    // One route slot: a route holding it waits for a refresh whose hook must still run
    // (hooks have slots of their own).
    config.runtime.max_instances = 1;
    let data_dir = config.data_dir.clone();
    let services = Services::open(config).expect("services");
    services
        .set_credentials(
            "hooks-app",
            &server.client_id,
            Some(&SecretString::from(CLIENT_SECRET)),
        )
        .expect("credentials");
    Host {
        server,
        api,
        services,
        data_dir,
        _dir: dir,
    }
}

impl Host {
    fn create(&self, name: &str, mode: &str) {
        let mut secret = BTreeMap::new();
        secret.insert("clientNote".to_string(), SecretString::from(SECRET_SETTING));
        self.services
            .create_connection(NewConnectionInput {
                auth_option: None,
                name: name.into(),
                connector: "hooks".into(),
                lookup: Lookup::KeyOnly,
                settings: SettingsInput {
                    plain: vec![("hookMode".into(), PlainValue::Text(mode.into()))],
                    secret,
                },
            })
            .expect("connection");
    }

    /// Authorizes `name` at the real provider; returns the callback's code and the result.
    async fn authorize(
        &self,
        name: &str,
    ) -> (
        String,
        Result<keyway_host::services::Completed, keyway_host::services::ServiceError>,
    ) {
        let redirect = url::Url::parse(REDIRECT).expect("url");
        let AuthorizationStart::Redirect(request) = self
            .services
            .begin_authorization(name, &redirect, None)
            .await
            .expect("authorization URL")
        else {
            panic!("an authorization-code connector is sent to the provider");
        };
        let query = self
            .server
            .drive_authorization(&request.url, REDIRECT)
            .await;
        let callback = CallbackParams::from_query(&query).expect("callback");
        let code = callback.get("code").expect("a code").to_string();
        let done = self
            .services
            .complete_authorization(&callback, Some(Expected::Connection(name)))
            .await;
        (code, done)
    }

    async fn call(&self, name: &str, path: &str, query: &[(&str, &str)]) -> Value {
        let mut req = RouteRequest::new(Method::Get, path);
        req.query = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let res = self.services.invoke(name, req).await.expect("route runs");
        serde_json::from_slice(&res.body).expect("JSON answer")
    }

    async fn proxy_json(&self, what: &str) -> Value {
        let url = format!("http://127.0.0.1:{}/__proxy/{what}", self.server.proxy_port);
        let bytes = reqwest::get(url)
            .await
            .expect("proxy")
            .bytes()
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }

    fn stored_refresh_token(&self, name: &str) -> Option<String> {
        let id = self.services.show_connection(name).expect("connection").id;
        let store = keyway_tests::backend::reopen_store(&self.data_dir);
        store
            .tokens(&id)
            .expect("tokens")
            .and_then(|t| t.refresh_token)
            .map(|rt| rt.expose_secret().to_string())
    }

    fn has_tokens(&self, name: &str) -> bool {
        let id = self.services.show_connection(name).expect("connection").id;
        let store = keyway_tests::backend::reopen_store(&self.data_dir);
        store.tokens(&id).expect("tokens").is_some()
    }
}

fn bearer(seen: &keyway_tests::provider::Seen) -> String {
    seen.header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .expect("a bearer token was injected")
        .to_string()
}

/// The lines the hooks wrote about what they received and which doors answered.
fn hook_lines() -> Vec<String> {
    logs::captured()
        .lines()
        .filter(|l| l.contains("hook-input") || l.contains("hook-doors"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_shape_a_json_exchange_store_the_tenant_and_never_see_a_secret() {
    let h = host().await;
    h.create("acme", "");

    // Authorization: the JSON request the hook described, filled by the host.
    let (code, done) = h.authorize("acme").await;
    let done = done.expect("the code exchange through the hooks works");
    assert_eq!(done.outcome.callback_params["tenant"], "tenant-acme-7");
    assert!(done.outcome.has_refresh_token);
    let sent = h.proxy_json("json-last").await;
    assert_eq!(sent["grant"], "authorization_code");
    assert_eq!(sent["client"]["secret"], CLIENT_SECRET, "{sent}");
    assert_eq!(sent["client"]["id"], h.server.client_id.as_str());
    assert_eq!(sent["code"], code.as_str());
    assert_eq!(sent["redirect"], REDIRECT);
    let verifier = sent["verifier"].as_str().expect("a verifier").to_string();
    assert!(verifier.len() >= 43, "a PKCE verifier was filled in");
    let first_refresh = h.stored_refresh_token("acme").expect("a refresh token");

    // The tenant is a setting; a route's call carries the token; the token door is shut.
    assert_eq!(
        h.call("acme", "/tenant", &[]).await["tenant"],
        "tenant-acme-7"
    );
    assert_eq!(
        h.call("acme", "/token", &[]).await["error"],
        "not_permitted"
    );
    let v = h.call("acme", "/call", &[("url", &h.api.url("/ok"))]).await;
    assert_eq!(v["status"], 200, "{v}");
    let first_access = bearer(&h.api.seen()[0]);

    // A 401 forces a refresh through `refreshRequest`; its answer has no refresh token,
    // so the stored one is kept.
    h.api.fail_auth(1);
    let v = h
        .call("acme", "/call", &[("url", &h.api.url("/flaky"))])
        .await;
    assert_eq!(v["status"], 200, "{v}");
    let seen = h.api.seen();
    let refreshed_access = bearer(&seen[seen.len() - 1]);
    assert_ne!(
        refreshed_access, first_access,
        "the retry carries a new token"
    );
    let stats = h.proxy_json("json-stats").await;
    assert_eq!(stats["grants"]["authorization_code"], 1, "{stats}");
    assert_eq!(stats["grants"]["refresh"], 1, "{stats}");
    let sent = h.proxy_json("json-last").await;
    assert_eq!(sent["refresh"], first_refresh.as_str(), "{sent}");
    assert_eq!(sent["headers"]["x-hook"], "refresh");
    assert_eq!(
        h.stored_refresh_token("acme").as_deref(),
        Some(first_refresh.as_str()),
        "the refresh token the answer omitted is kept"
    );
    assert_eq!(
        h.call("acme", "/tenant", &[]).await["tenant"],
        "tenant-acme-7"
    );
    let shown = h.services.show_connection("acme").expect("connection");
    assert_eq!(shown.status, "connected");

    // What the hooks received: context, a scrubbed answer, and refusals from every door.
    let lines = hook_lines();
    let inputs: Vec<&String> = lines.iter().filter(|l| l.contains("hook-input")).collect();
    assert!(
        inputs.iter().any(|l| l.contains("tokenRequest")
            && l.contains("json-token")
            && l.contains("hookMode")),
        "{lines:#?}"
    );
    assert!(inputs.iter().any(|l| l.contains("refreshRequest")));
    let answers: Vec<&&String> = inputs
        .iter()
        .filter(|l| l.contains("credentialsFromTokenResponse"))
        .collect();
    assert_eq!(answers.len(), 2, "{lines:#?}");
    assert!(
        answers
            .iter()
            .all(|l| l.contains("[secret]") && l.contains("tenant-acme-7"))
    );
    let doors: Vec<&String> = lines.iter().filter(|l| l.contains("hook-doors")).collect();
    assert!(doors.len() >= 4, "{lines:#?}");
    for line in &doors {
        assert!(!line.contains("OPEN"), "a door opened to a hook: {line}");
        assert!(line.contains("oauth=not_permitted"), "{line}");
        assert!(line.contains("secrets=not_permitted"), "{line}");
        assert!(line.contains("settings=none"), "{line}");
        assert!(line.contains("http=denied"), "{line}");
    }
    let hook_text = lines.join("\n");
    let all_logs = logs::captured();
    let mut canaries = vec![
        CLIENT_SECRET.to_string(),
        SECRET_SETTING.to_string(),
        code.clone(),
        verifier.clone(),
        first_refresh.clone(),
        first_access.clone(),
        refreshed_access.clone(),
    ];
    let stored_now = h.stored_refresh_token("acme").expect("refresh token");
    canaries.push(stored_now);
    for canary in &canaries {
        assert!(
            !hook_text.contains(canary.as_str()),
            "a secret reached a hook: {:?}",
            lines.iter().find(|l| l.contains(canary.as_str()))
        );
        assert!(
            !all_logs.contains(canary.as_str()),
            "a secret reached the logs"
        );
    }
    // And no id_token (a JWT) reached a hook.
    assert!(!hook_text.contains("eyJ"), "an id_token reached a hook");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_fails_cleanly_stores_nothing_and_the_host_goes_on() {
    let h = host().await;
    let cases = [
        ("trap", "traps on purpose"),
        ("loop", "deadline"),
        ("evil-url", "origin"),
        ("secret-in-url", "URL"),
        ("unknown-placeholder", "unknown placeholder `{api_key}`"),
    ];
    for (mode, expected) in cases {
        h.create(mode, mode);
        let started = std::time::Instant::now();
        let (code, done) = h.authorize(mode).await;
        let err = match done {
            Ok(_) => panic!("{mode}: the authorization should fail"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("hooks"), "{mode}: names the connector: {err}");
        assert!(
            err.contains("tokenRequest"),
            "{mode}: names the hook: {err}"
        );
        assert!(err.contains(expected), "{mode}: {err}");
        assert!(
            !err.contains(CLIENT_SECRET) && !err.contains(&code),
            "{err}"
        );
        assert!(!h.has_tokens(mode), "{mode}: no token is stored");
        assert_ne!(
            h.services.show_connection(mode).expect("connection").status,
            "connected"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{mode}: ended by the hook's deadline"
        );
    }
    assert_eq!(
        h.proxy_json("json-stats").await["requests"],
        0,
        "no refused request was sent"
    );

    // The host goes on: the next authorization works.
    h.create("fine", "");
    let (_, done) = h.authorize("fine").await;
    done.expect("a good hook still works");

    // A refresh hook that traps: the refresh fails, nothing is stored, and the connection
    // is marked as a failed refresh is.
    h.create("refresh-trap", "refresh-trap");
    let (_, done) = h.authorize("refresh-trap").await;
    done.expect("the code exchange works");
    let before = h.stored_refresh_token("refresh-trap");
    h.api.fail_auth(1);
    let v = h
        .call("refresh-trap", "/call", &[("url", &h.api.url("/flaky"))])
        .await;
    assert_ne!(v["status"], 200, "the refresh failed: {v}");
    let shown = h
        .services
        .show_connection("refresh-trap")
        .expect("connection");
    assert_eq!(shown.status, "refresh_failing", "{shown:?}");
    let last_error = shown.last_error.unwrap_or_default();
    assert!(
        last_error.contains("refreshRequest") && last_error.contains("hooks"),
        "{last_error}"
    );
    assert_eq!(h.stored_refresh_token("refresh-trap"), before);
    for canary in [CLIENT_SECRET, SECRET_SETTING] {
        assert!(
            !logs::captured().contains(canary),
            "a secret reached the logs"
        );
        assert!(!last_error.contains(canary));
    }
}

/// A manifest for `component` declaring `hooks`, written under `dir`.
fn hooks_manifest(dir: &Path, component: &str, hooks: &[&str]) -> PathBuf {
    let conn = dir.join("c");
    std::fs::create_dir_all(&conn).expect("mkdir");
    let manifest = json!({
        "key": "hooks-load", "name": "Hooks", "provider": "p", "kind": "source",
        "version": "0.1.0",
        "connection": {
            "oauth": {
                "type": "authorization_code",
                "authorizationUrlTemplate": "https://idp.example.test/authorize",
                "tokenUrlTemplate": "https://idp.example.test/token",
                "client": { "credentialKey": "app" },
                "hooks": hooks
            }
        }
    });
    std::fs::write(conn.join("connector.json"), manifest.to_string()).expect("manifest");
    std::fs::copy(component, conn.join("connector.wasm")).expect("component");
    conn
}

#[tokio::test]
async fn a_declared_hook_the_component_lacks_is_a_load_problem() {
    let runtime =
        keyway_host::runtime::Runtime::new(keyway_tests::test_runtime_config()).expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");

    // A component without the export: refused when hooks are declared, like a route.
    let conn = hooks_manifest(
        &dir.path().join("a"),
        components::HOSTILE,
        &["tokenRequest"],
    );
    let err = match keyway_host::registry::load(&runtime, &conn, None).await {
        Ok(_) => panic!("a declared hook must be exported"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("/connection/oauth/hooks"), "{err}");
    assert!(
        err.contains("tokenRequest") && err.contains("token-hooks"),
        "{err}"
    );

    // Without hooks declared it loads as before, and so does a component that exports
    // hooks its manifest does not use.
    let conn = hooks_manifest(&dir.path().join("b"), components::HOSTILE, &[]);
    let loaded = keyway_host::registry::load(&runtime, &conn, None)
        .await
        .expect("a component without hooks still loads");
    assert!(!loaded.component.has_token_hooks());
    let conn = hooks_manifest(&dir.path().join("c"), components::TOKEN_HOOKS, &[]);
    let loaded = keyway_host::registry::load(&runtime, &conn, None)
        .await
        .expect("unused hooks are fine");
    assert!(loaded.component.has_token_hooks());
}
