//! Provider auth failures: a 401 makes the host refresh once and retry; a second 401 or
//! a refresh answered `invalid_grant` reaches the caller as `reauth_required`.

use crate::common::*;
use keyway_testing::{OAuthState, RefreshOutcome};
use serde_json::json;

#[test]
fn a_401_refreshes_once_and_the_retry_succeeds() {
    let rt = runtime(
        OAuthState::connected("sq-access-token-old")
            .refresh(RefreshOutcome::success("sq-access-token-new", 3600)),
    );
    rt.http().respond_once("GET", MERCHANT_URL, unauthorized());
    rt.http().get_json_once(MERCHANT_URL, merchant());
    rt.http().get_json_once(MAIN_LOCATION_URL, main_location());

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["providerAccountId"], "MLQW2Z5Y3K9A1");
    assert_eq!(rt.token_requests(), 1);
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[0].header("authorization"),
        Some("Bearer sq-access-token-old")
    );
    assert_eq!(
        calls[1].header("authorization"),
        Some("Bearer sq-access-token-new")
    );
    assert_eq!(
        calls[2].header("authorization"),
        Some("Bearer sq-access-token-new")
    );
    rt.http().assert_all_used();
}

#[test]
fn a_401_after_the_refresh_is_reauth_required() {
    let rt = runtime(
        OAuthState::connected("sq-access-token-old")
            .refresh(RefreshOutcome::success("sq-access-token-new", 3600)),
    );
    rt.http().respond_once("GET", MERCHANT_URL, unauthorized());
    rt.http().respond_once("GET", MERCHANT_URL, unauthorized());

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert_eq!(rt.token_requests(), 1);
    assert_eq!(rt.http().calls().len(), 2);
    rt.http().assert_all_used();
}

#[test]
fn invalid_grant_on_refresh_is_reauth_required() {
    let rt = runtime(
        OAuthState::connected("sq-access-token-old").refresh(RefreshOutcome::invalid_grant()),
    );
    rt.http().respond_once("GET", PAYMENTS_URL, unauthorized());

    let res = rt.call("POST", "/sync/payments", json!({})).unwrap();

    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert_eq!(rt.token_requests(), 1);
    assert_eq!(rt.http().calls().len(), 1);
    assert!(rt.ingest().records().is_empty());
}

#[test]
fn expired_token_is_refreshed_before_the_call() {
    let rt = runtime(
        OAuthState::connected("sq-access-token-old")
            .expires_in(std::time::Duration::from_secs(10))
            .refresh(RefreshOutcome::success("sq-access-token-new", 3600)),
    );
    rt.http().get_json_once(MERCHANT_URL, merchant());
    rt.http().get_json_once(MAIN_LOCATION_URL, main_location());

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(rt.token_requests(), 1);
    assert_eq!(
        rt.http().calls()[0].header("authorization"),
        Some("Bearer sq-access-token-new")
    );
}

#[test]
fn refresh_outage_is_provider_unavailable_not_reauth() {
    let rt = runtime(
        OAuthState::connected("sq-access-token-old").refresh(RefreshOutcome::unavailable()),
    );
    rt.http().respond_once("GET", MERCHANT_URL, unauthorized());

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 503, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "provider_unavailable");
}
