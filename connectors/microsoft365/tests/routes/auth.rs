//! Every way the connection's authorization can fail, as the routes surface it.

use std::time::Duration;

use keyway_testing::{MockResponse, OAuthState, RefreshOutcome};
use serde_json::json;

use crate::support::*;

fn graph_401() -> MockResponse {
    MockResponse::json(
        401,
        json!({ "error": { "code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid." } }),
    )
}

#[test]
fn missing_token_requires_reauthorization() {
    let rt = runtime(OAuthState::none());
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert!(rt.http().calls().is_empty());
}

#[test]
fn missing_scope_is_reported_before_any_call() {
    let rt = runtime(OAuthState::connected(ACCESS_TOKEN).scopes(["offline_access", "User.Read"]));
    let res = rt.call("POST", "/sync/messages", json!({})).unwrap();
    assert_eq!(res.status, 403);
    let body = res.json();
    assert_eq!(body["error"]["code"], "missing_scopes");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Mail.Read")
    );
    assert!(rt.http().calls().is_empty());
}

#[test]
fn provider_401_forces_one_refresh_and_the_retry_succeeds() {
    let rt = runtime(
        OAuthState::connected(ACCESS_TOKEN).refresh(RefreshOutcome::success(REFRESHED_TOKEN, 3600)),
    );
    rt.http().respond_once("GET", ME, graph_401());
    rt.http().get_json_once(ME, me());
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(rt.token_requests(), 1);
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        authorization(&calls[0]).as_deref(),
        Some(&*format!("Bearer {ACCESS_TOKEN}"))
    );
    assert_eq!(
        authorization(&calls[1]).as_deref(),
        Some(&*format!("Bearer {REFRESHED_TOKEN}"))
    );
}

#[test]
fn provider_401_after_the_refresh_requires_reauthorization() {
    let rt = runtime(
        OAuthState::connected(ACCESS_TOKEN).refresh(RefreshOutcome::success(REFRESHED_TOKEN, 3600)),
    );
    rt.http().respond_once("GET", MESSAGES, graph_401());
    rt.http().respond_once("GET", MESSAGES, graph_401());
    let res = rt.call("POST", "/sync/messages", json!({})).unwrap();
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert_eq!(rt.token_requests(), 1);
    assert_eq!(rt.http().calls().len(), 2);
    assert!(rt.ingest().records().is_empty());
}

#[test]
fn invalid_grant_on_the_forced_refresh_requires_reauthorization() {
    let rt = runtime(OAuthState::connected(ACCESS_TOKEN).refresh(RefreshOutcome::invalid_grant()));
    rt.http().respond_once("GET", ME, graph_401());
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert_eq!(rt.token_requests(), 1);
}

#[test]
fn invalid_grant_for_an_expired_token_requires_reauthorization_without_calling_graph() {
    let rt = runtime(
        OAuthState::connected(ACCESS_TOKEN)
            .expires_in(Duration::from_secs(0))
            .refresh(RefreshOutcome::invalid_grant()),
    );
    let res = rt.call("POST", "/sync/messages", json!({})).unwrap();
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert!(rt.http().calls().is_empty());
}

#[test]
fn throttling_is_a_provider_error_with_the_retry_hint() {
    let rt = connected();
    rt.http()
        .get_json_once(&first_page(2), messages_page(&[1, 2], Some(next_link(2))));
    rt.http().respond_once(
        "GET",
        &next_link(2),
        MockResponse::json(429, json!({ "error": { "code": "TooManyRequests", "message": "Please retry again later." } }))
            .header("Retry-After", "17"),
    );
    let res = rt
        .call("POST", "/sync/messages", json!({ "pageSize": 2 }))
        .unwrap();
    assert_eq!(res.status, 502);
    let body = res.json();
    assert_eq!(body["error"]["code"], "provider_error");
    assert_eq!(body["error"]["details"]["providerStatus"], 429);
    assert_eq!(
        body["error"]["details"]["providerCodes"],
        json!(["TooManyRequests"])
    );
    assert_eq!(body["error"]["details"]["retryAfterSeconds"], 17);
    assert_eq!(
        body["error"]["details"]["progress"]["counts"]["imported"],
        2
    );
    let retry = res
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .map(|(_, v)| v.as_str());
    assert_eq!(retry, Some("17"));
    assert_eq!(rt.token_requests(), 0);
    assert_eq!(rt.ingest().records().len(), 2);
}

#[test]
fn a_403_is_a_provider_error_naming_graphs_code() {
    let rt = connected();
    rt.http().respond_once(
        "GET",
        ME,
        MockResponse::json(
            403,
            json!({ "error": { "code": "ErrorAccessDenied", "message": "Access is denied." } }),
        ),
    );
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 502);
    assert_eq!(res.json()["error"]["details"]["providerStatus"], 403);
    assert_eq!(
        res.json()["error"]["details"]["providerCodes"],
        json!(["ErrorAccessDenied"])
    );
    assert_eq!(rt.token_requests(), 0);
}
