//! Provider auth failures: a 401 makes the host refresh once and retry; a second 401 or
//! a refresh answered `invalid_grant` reaches the caller as `reauth_required`.

use crate::common::*;
use keyway_testing::{OAuthState, RefreshOutcome};
use serde_json::json;

#[test]
fn a_401_refreshes_once_and_the_retry_succeeds() {
    let rt = runtime(
        OAuthState::connected("ya29.old").refresh(RefreshOutcome::success("ya29.new", 3599)),
    );
    rt.http().respond_once("GET", USERINFO_URL, unauthorized());
    rt.http().get_json_once(USERINFO_URL, userinfo());

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["providerAccountId"], "110248495921238986420");
    assert_eq!(rt.token_requests(), 1);
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].header("authorization"), Some("Bearer ya29.old"));
    assert_eq!(calls[1].header("authorization"), Some("Bearer ya29.new"));
}

#[test]
fn a_401_after_the_refresh_is_reauth_required() {
    let rt = runtime(
        OAuthState::connected("ya29.old").refresh(RefreshOutcome::success("ya29.new", 3599)),
    );
    rt.http()
        .respond_once("GET", PRIMARY_EVENTS_URL, unauthorized());
    rt.http()
        .respond_once("GET", PRIMARY_EVENTS_URL, unauthorized());

    let res = rt.call("POST", "/sync/events", json!({})).unwrap();

    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert_eq!(rt.token_requests(), 1);
    assert_eq!(rt.http().calls().len(), 2);
    assert!(rt.ingest().records().is_empty());
}

#[test]
fn invalid_grant_on_refresh_is_reauth_required() {
    let rt = runtime(OAuthState::connected("ya29.old").refresh(RefreshOutcome::invalid_grant()));
    rt.http().respond_once("GET", USERINFO_URL, unauthorized());

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert_eq!(rt.token_requests(), 1);
    assert_eq!(rt.http().calls().len(), 1);

    // The grant stays revoked: the next call fails at once, without calling Google.
    let again = rt.call("POST", "/sync/events", json!({})).unwrap();
    assert_eq!(again.status, 401, "{}", again.text());
    assert_eq!(rt.http().calls().len(), 1);
}

#[test]
fn expired_token_is_refreshed_before_the_call() {
    let rt = runtime(
        OAuthState::connected("ya29.old")
            .expires_in(std::time::Duration::from_secs(60))
            .refresh(RefreshOutcome::success("ya29.new", 3599)),
    );
    rt.http().get_json_once(USERINFO_URL, userinfo());

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(rt.token_requests(), 1);
    assert_eq!(
        rt.http().calls()[0].header("authorization"),
        Some("Bearer ya29.new")
    );
}
