//! `/setup/test_connection`: the account's identity from OpenID userinfo, and the
//! answers when the connection has no token or lacks a scope.

use crate::common::*;
use keyway_testing::OAuthState;
use serde_json::json;

#[test]
fn connected_answers_the_workspace_account_identity() {
    let rt = connected();
    rt.http().get_json_once(USERINFO_URL, userinfo());

    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();

    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["providerAccountId"], "110248495921238986420");
    assert_eq!(body["providerAccountName"], "Ada Lovelace");
    assert_eq!(body["providerAccountDomain"], "acme.example");
    assert_eq!(body["email"], "ada@acme.example");
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].header("authorization"),
        Some("Bearer ya29.access-token-1")
    );
    rt.http().assert_all_used();
}

#[test]
fn consumer_account_falls_back_to_email_and_its_domain() {
    let rt = connected();
    rt.http().get_json_once(
        USERINFO_URL,
        json!({ "sub": "42", "email": "someone@Gmail.com", "email_verified": true }),
    );

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["providerAccountName"], "someone@Gmail.com");
    assert_eq!(res.json()["providerAccountDomain"], "gmail.com");
}

#[test]
fn userinfo_without_sub_is_a_provider_error() {
    let rt = connected();
    rt.http()
        .get_json_once(USERINFO_URL, json!({ "email": "x@acme.example" }));

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 502, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "provider_error");
}

#[test]
fn missing_token_is_reauth_required_before_any_call() {
    let rt = runtime(OAuthState::none());

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert!(rt.http().calls().is_empty());
}

#[test]
fn missing_calendar_scope_is_refused_before_any_call() {
    let rt = runtime(OAuthState::connected("ya29.access-token-1").scopes([
        "openid",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
    ]));

    let setup = rt.test_connection().unwrap();
    let sync = rt.call("POST", "/sync/events", json!({})).unwrap();

    for res in [setup, sync] {
        assert_eq!(res.status, 403, "{}", res.text());
        assert_eq!(res.json()["error"]["code"], "missing_scopes");
        let message = res.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains(CALENDAR_SCOPE), "{message}");
    }
    assert!(rt.http().calls().is_empty());
}

#[test]
fn google_insufficient_scope_answer_is_missing_scopes() {
    let rt = connected();
    rt.http().respond_once(
        "GET",
        PRIMARY_EVENTS_URL,
        keyway_testing::MockResponse::json(403, google_error(403, "insufficientPermissions")),
    );

    let res = rt.call("POST", "/sync/events", json!({})).unwrap();

    assert_eq!(res.status, 403, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "missing_scopes");
}
