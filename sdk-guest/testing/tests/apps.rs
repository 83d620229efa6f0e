//! Self-tests of seeded app connections, run against the `fixture` connector (which grants
//! `fixture-read` as `token`, `fixture-push` as `inject` and `fixture-absent` as `token`):
//! each reaches the route only through the host's doors and grant checks, an injected
//! token shows in the recorded call and never in the answer, a 401 refreshes the app
//! connection's own seeded grant, and the builder refuses names the host would.

use keyway_testing::{Error, MockResponse, OAuthState, RefreshOutcome, RouteResult, TestRuntime};
use serde_json::json;
use std::time::Duration;

const APP_URL: &str = "https://apps.example.com/v1/me";
const CANARY_OWN: &str = "canary-own-token-0c4d2a";
const CANARY_READ: &str = "canary-app-read-93be10";
const CANARY_PUSH: &str = "canary-app-push-5e7f61";
const CANARY_PUSH_NEW: &str = "canary-app-push-new-2a8c44";

fn fixture() -> String {
    format!("{}/tests/fixture", env!("CARGO_MANIFEST_DIR"))
}

fn builder() -> keyway_testing::TestRuntimeBuilder {
    TestRuntime::builder(fixture()).oauth(OAuthState::connected(CANARY_OWN))
}

fn error_code(res: &RouteResult) -> String {
    res.json()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn token_of(rt: &TestRuntime, name: &str) -> RouteResult {
    rt.call("POST", "/app/token", json!({ "name": name }))
        .unwrap()
}

fn call_with(rt: &TestRuntime, name: &str) -> RouteResult {
    rt.call("POST", "/app/call", json!({ "name": name }))
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn a_token_grant_reads_the_seeded_token_with_its_type_expiry_and_scopes() {
    let rt = builder()
        .with_app_connection(
            "fixture-read",
            OAuthState::connected(CANARY_READ)
                .token_type(Some("Bearer"))
                .expires_in(Duration::from_secs(3600))
                .scopes(["openid", "email"]),
        )
        .build()
        .unwrap();

    let res = token_of(&rt, "fixture-read");

    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["length"], CANARY_READ.len());
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["scopes"], json!(["openid", "email"]));
    let expires_at = body["expiresAt"].as_i64().unwrap();
    assert!(
        (now() + 3590..=now() + 3600).contains(&expires_at),
        "{body}"
    );
    // The route echoed the token; the host learned it at the door and scrubbed it.
    assert_eq!(body["echo"], "[REDACTED]", "{body}");
    assert!(!res.text().contains(CANARY_READ));
    for line in rt.logs() {
        assert!(!line.contains(CANARY_READ), "app token in log: {line}");
    }
    // The connection's own grant was not touched.
    assert_eq!(rt.token_requests(), 0);
    assert_eq!(rt.app_token_requests("fixture-read"), 0);
}

#[test]
fn an_inject_grant_is_injected_on_the_recorded_call_and_never_answered() {
    let rt = builder()
        .with_app_connection("fixture-push", OAuthState::connected(CANARY_PUSH))
        .build()
        .unwrap();
    // A provider that reflects the credential: the host scrubs it before the route sees it.
    rt.http().get_json_once(
        APP_URL,
        json!({ "id": "me-1", "seen": format!("Bearer {CANARY_PUSH}") }),
    );

    let res = call_with(&rt, "fixture-push");

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["status"], 200);
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 1);
    let expected = format!("Bearer {CANARY_PUSH}");
    assert_eq!(calls[0].header("authorization"), Some(expected.as_str()));
    assert!(!res.text().contains(CANARY_PUSH), "{}", res.text());
    assert!(res.text().contains("me-1"), "{}", res.text());
    for line in rt.logs() {
        assert!(!line.contains(CANARY_PUSH), "app token in log: {line}");
    }
    rt.http().assert_all_used();

    // Granted `inject` only: the token door refuses, and says how to use it.
    let read = token_of(&rt, "fixture-push");
    assert_eq!(error_code(&read), "not_permitted", "{}", read.text());
    assert!(read.text().contains("inject"), "{}", read.text());
    assert!(!read.text().contains(CANARY_PUSH));
}

#[test]
fn a_token_grant_is_not_injected() {
    let rt = builder()
        .with_app_connection("fixture-read", OAuthState::connected(CANARY_READ))
        .build()
        .unwrap();

    let res = call_with(&rt, "fixture-read");

    assert_eq!(error_code(&res), "not_permitted", "{}", res.text());
    assert!(
        rt.http().calls().is_empty(),
        "nothing may reach the provider"
    );
}

#[test]
fn a_name_the_manifest_does_not_grant_is_refused_even_when_seeded() {
    let rt = builder()
        .with_app_connection("elsewhere", OAuthState::connected(CANARY_READ))
        .build()
        .unwrap();

    let read = token_of(&rt, "elsewhere");
    let inject = call_with(&rt, "elsewhere");

    assert_eq!(error_code(&read), "not_permitted", "{}", read.text());
    assert!(
        read.text().contains("permissions.connections.elsewhere"),
        "{}",
        read.text()
    );
    assert_eq!(error_code(&inject), "not_permitted", "{}", inject.text());
    assert!(rt.http().calls().is_empty());
    assert!(!read.text().contains(CANARY_READ));
}

#[test]
fn a_granted_name_nobody_seeded_is_not_found() {
    let rt = builder().build().unwrap();

    let read = token_of(&rt, "fixture-absent");
    let inject = call_with(&rt, "fixture-push");

    assert_eq!(error_code(&read), "not_found", "{}", read.text());
    assert!(read.text().contains("fixture-absent"), "{}", read.text());
    assert_eq!(error_code(&inject), "not_found", "{}", inject.text());
    assert!(rt.http().calls().is_empty());
}

#[test]
fn an_app_connection_never_authorized_is_not_a_token() {
    let rt = builder()
        .with_app_connection("fixture-read", OAuthState::none())
        .build()
        .unwrap();

    let res = token_of(&rt, "fixture-read");

    assert_eq!(error_code(&res), "reauth_required", "{}", res.text());
}

#[test]
fn a_401_refreshes_the_app_connection_once_and_the_retry_carries_the_new_token() {
    let rt = builder()
        .with_app_connection(
            "fixture-push",
            OAuthState::connected(CANARY_PUSH)
                .refresh(RefreshOutcome::success(CANARY_PUSH_NEW, 3600)),
        )
        .build()
        .unwrap();
    rt.http()
        .respond_once("GET", APP_URL, MockResponse::status(401));
    rt.http().get_json_once(APP_URL, json!({ "id": "me-1" }));

    let res = call_with(&rt, "fixture-push");

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["status"], 200);
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0].header("authorization"),
        Some(format!("Bearer {CANARY_PUSH}").as_str())
    );
    assert_eq!(
        calls[1].header("authorization"),
        Some(format!("Bearer {CANARY_PUSH_NEW}").as_str())
    );
    assert_eq!(rt.app_token_requests("fixture-push"), 1);
    assert_eq!(rt.unused_app_refresh_outcomes("fixture-push"), 0);
    assert_eq!(
        rt.token_requests(),
        0,
        "the connection's own grant is apart"
    );
}

#[test]
fn a_refused_refresh_of_the_app_connection_is_reauth_required() {
    let rt = builder()
        .with_app_connection(
            "fixture-push",
            OAuthState::connected(CANARY_PUSH).refresh(RefreshOutcome::invalid_grant()),
        )
        .build()
        .unwrap();
    rt.http()
        .respond_once("GET", APP_URL, MockResponse::status(401));

    let res = call_with(&rt, "fixture-push");

    assert_eq!(error_code(&res), "reauth_required", "{}", res.text());
    assert_eq!(rt.app_token_requests("fixture-push"), 1);
    assert!(!res.text().contains(CANARY_PUSH));
}

fn setup_error(result: Result<TestRuntime, Error>) -> String {
    match result {
        Err(Error::Setup(message)) => message,
        Err(other) => panic!("expected a setup error, got {other}"),
        Ok(_) => panic!("expected a setup error, the runtime was built"),
    }
}

#[test]
fn a_name_the_host_refuses_is_refused_at_build_naming_the_rule() {
    for bad in ["Google_OAuth", "-lead", "trail-", ""] {
        let message = setup_error(
            builder()
                .with_app_connection(bad, OAuthState::connected(CANARY_READ))
                .build(),
        );
        assert!(
            message.contains(keyway_host::manifest::APP_CONNECTION_NAME_RULE),
            "{bad:?}: {message}"
        );
        assert!(message.contains(&format!("{bad:?}")), "{message}");
    }
}

#[test]
fn a_name_seeded_twice_or_with_required_scopes_is_refused_at_build() {
    let twice = setup_error(
        builder()
            .with_app_connection("fixture-read", OAuthState::connected(CANARY_READ))
            .with_app_connection("fixture-read", OAuthState::connected(CANARY_PUSH))
            .build(),
    );
    assert!(twice.contains("seeded twice"), "{twice}");
    let required = setup_error(
        builder()
            .with_app_connection(
                "fixture-read",
                OAuthState::connected(CANARY_READ).required_scopes(["openid"]),
            )
            .build(),
    );
    assert!(required.contains("required_scopes"), "{required}");
    assert!(!twice.contains(CANARY_READ) && !required.contains(CANARY_READ));
}

/// The build-script generator cannot depend on the host, so it states the name rule
/// again; both must answer alike.
#[test]
fn the_constant_generator_and_the_host_agree_on_names() {
    let long_ok = "a".repeat(63);
    let long_bad = "a".repeat(64);
    for name in [
        "google-oauth",
        "ms365-oauth",
        "a--b",
        "365-mail",
        "x",
        long_ok.as_str(),
        long_bad.as_str(),
        "",
        "-a",
        "a-",
        "A",
        "a_b",
        "a.b",
        "a b",
        "é",
    ] {
        assert_eq!(
            keyway_sdk_build::is_app_connection_name(name),
            keyway_host::manifest::is_app_connection_name(name),
            "{name:?}"
        );
    }
    assert_eq!(
        keyway_sdk_build::NAME_RULE,
        keyway_host::manifest::APP_CONNECTION_NAME_RULE
    );
}
