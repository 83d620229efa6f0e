//! `/setup/test_connection`: the merchant's identity, the headers Square receives, and
//! the answers when the connection has no token or lacks a scope.

use crate::common::*;
use keyway_testing::{MockResponse, OAuthState};
use serde_json::json;

#[test]
fn connected_answers_the_merchant_identity() {
    let rt = connected();
    rt.http().get_json_once(MERCHANT_URL, merchant());
    rt.http().get_json_once(MAIN_LOCATION_URL, main_location());

    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();

    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["providerAccountId"], "MLQW2Z5Y3K9A1");
    assert_eq!(body["providerAccountName"], "Acme Coffee");
    assert_eq!(body["providerAccountDomain"], "www.acme-coffee.example");
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(call.method, "GET");
        assert_eq!(
            call.header("authorization"),
            Some("Bearer sq-access-token-1")
        );
        assert_eq!(call.header("square-version"), Some(SQUARE_VERSION));
    }
    rt.http().assert_all_used();
    assert_eq!(rt.token_requests(), 0);
}

#[test]
fn merchant_without_a_main_location_has_no_domain() {
    let rt = connected();
    let mut m = merchant();
    m["merchant"]
        .as_object_mut()
        .unwrap()
        .remove("main_location_id");
    rt.http().get_json_once(MERCHANT_URL, m);

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["providerAccountId"], "MLQW2Z5Y3K9A1");
    assert!(res.json()["providerAccountDomain"].is_null());
    assert_eq!(rt.http().calls().len(), 1);
}

#[test]
fn missing_token_is_reauth_required_before_any_call() {
    let rt = runtime(OAuthState::none());

    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();

    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert!(rt.http().calls().is_empty());
}

#[test]
fn missing_scope_is_refused_before_any_call() {
    let rt = runtime(OAuthState::connected("sq-access-token-1").scopes(["PAYMENTS_READ"]));

    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();

    assert_eq!(res.status, 403, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "missing_scopes");
    let message = res.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("MERCHANT_PROFILE_READ"), "{message}");
    assert!(message.contains("ORDERS_READ"), "{message}");
    assert!(rt.http().calls().is_empty());
}

#[test]
fn square_insufficient_scopes_answer_is_missing_scopes() {
    let rt = connected();
    rt.http().respond_once(
        "GET",
        MERCHANT_URL,
        MockResponse::json(
            403,
            square_error("AUTHENTICATION_ERROR", "INSUFFICIENT_SCOPES"),
        ),
    );

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 403, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "missing_scopes");
    assert_eq!(rt.token_requests(), 0);
}

#[test]
fn square_server_error_is_a_provider_error_with_its_status() {
    let rt = connected();
    rt.http().respond_once(
        "GET",
        MERCHANT_URL,
        MockResponse::json(500, square_error("API_ERROR", "INTERNAL_SERVER_ERROR")),
    );

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 502, "{}", res.text());
    let error = &res.json()["error"];
    assert_eq!(error["code"], "provider_error");
    assert_eq!(error["details"]["providerStatus"], 500);
    assert_eq!(
        error["details"]["providerCodes"],
        serde_json::json!(["INTERNAL_SERVER_ERROR"])
    );
    assert!(!res.text().contains("request detail"));
}
