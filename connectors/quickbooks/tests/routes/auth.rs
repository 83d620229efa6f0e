//! Every way the connection's authorization can fail, as the routes surface it.

use std::time::Duration;

use keyway_testing::{MockResponse, OAuthState, RefreshOutcome};
use serde_json::json;

use crate::support::*;

fn intuit_401() -> MockResponse {
    MockResponse::json(
        401,
        json!({ "fault": { "error": [{ "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401", "code": "3200" }], "type": "AUTHENTICATION" } }),
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
    assert!(
        rt.http().calls().is_empty(),
        "no request leaves without a token"
    );
}

#[test]
fn missing_scope_is_reported_before_any_call() {
    let rt = runtime(OAuthState::connected(ACCESS_TOKEN).scopes(["openid"]));
    let res = rt.call("POST", "/sync/invoices", json!({})).unwrap();
    assert_eq!(res.status, 403);
    let body = res.json();
    assert_eq!(body["error"]["code"], "missing_scopes");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("com.intuit.quickbooks.accounting")
    );
    assert!(rt.http().calls().is_empty());
}

#[test]
fn provider_401_forces_one_refresh_and_the_retry_succeeds() {
    let rt = runtime(
        OAuthState::connected(ACCESS_TOKEN).refresh(RefreshOutcome::success(REFRESHED_TOKEN, 3600)),
    );
    rt.http().respond_once("GET", COMPANY_INFO, intuit_401());
    rt.http().get_json_once(COMPANY_INFO, company_info());
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["providerAccountId"], REALM);
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
    rt.http().respond_once("GET", COMPANY_INFO, intuit_401());
    rt.http().respond_once("GET", COMPANY_INFO, intuit_401());
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert_eq!(rt.token_requests(), 1, "exactly one forced refresh");
    assert_eq!(rt.http().calls().len(), 2);
}

#[test]
fn invalid_grant_on_the_forced_refresh_requires_reauthorization() {
    let rt = runtime(OAuthState::connected(ACCESS_TOKEN).refresh(RefreshOutcome::invalid_grant()));
    rt.http().respond_once("GET", QUERY, intuit_401());
    let res = rt.call("POST", "/sync/invoices", json!({})).unwrap();
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert_eq!(rt.token_requests(), 1);
    assert!(rt.ingest().records().is_empty());
}

#[test]
fn invalid_grant_for_an_expired_token_requires_reauthorization_without_calling_intuit() {
    let rt = runtime(
        OAuthState::connected(ACCESS_TOKEN)
            .expires_in(Duration::from_secs(0))
            .refresh(RefreshOutcome::invalid_grant()),
    );
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert_eq!(rt.token_requests(), 1);
    assert!(rt.http().calls().is_empty());
}

#[test]
fn an_expired_token_is_refreshed_before_the_call() {
    let rt = runtime(
        OAuthState::connected(ACCESS_TOKEN)
            .expires_in(Duration::from_secs(0))
            .refresh(RefreshOutcome::success(REFRESHED_TOKEN, 3600)),
    );
    rt.http().get_json_once(COMPANY_INFO, company_info());
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 200);
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        authorization(&calls[0]).as_deref(),
        Some(&*format!("Bearer {REFRESHED_TOKEN}"))
    );
}

#[test]
fn intuit_outage_on_refresh_is_not_a_revocation() {
    let rt = runtime(
        OAuthState::connected(ACCESS_TOKEN)
            .expires_in(Duration::from_secs(0))
            .refresh(RefreshOutcome::unavailable()),
    );
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 503);
    assert_eq!(res.json()["error"]["code"], "provider_unavailable");
}

#[test]
fn rate_limit_is_a_provider_error_with_the_retry_hint() {
    let rt = connected();
    rt.http().get_json_once(QUERY, invoice_page(1, &[1, 2]));
    rt.http().respond_once(
        "GET",
        QUERY,
        MockResponse::json(
            429,
            json!({ "Fault": { "Error": [{ "Message": "ThrottleExceeded" }] } }),
        )
        .header("Retry-After", "30"),
    );
    let res = rt
        .call("POST", "/sync/invoices", json!({ "pageSize": 2 }))
        .unwrap();
    assert_eq!(res.status, 502);
    let body = res.json();
    assert_eq!(body["error"]["code"], "provider_error");
    assert_eq!(body["error"]["details"]["providerStatus"], 429);
    assert_eq!(body["error"]["details"]["retryAfterSeconds"], 30);
    assert_eq!(
        body["error"]["details"]["progress"]["counts"]["imported"],
        2
    );
    assert_eq!(body["error"]["details"]["progress"]["nextStartPosition"], 3);
    let retry = res
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .map(|(_, v)| v.as_str());
    assert_eq!(retry, Some("30"));
    assert_eq!(
        rt.token_requests(),
        0,
        "a 429 is not an authorization failure"
    );
    assert_eq!(
        rt.ingest().records().len(),
        2,
        "the page before the limit is kept"
    );
}
