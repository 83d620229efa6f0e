//! No token reaches a log line or a route's answer, even across a refresh (canary
//! values), while the host still injected them into the requests Google received.

use crate::common::*;
use keyway_testing::{OAuthState, RefreshOutcome};
use serde_json::json;

const CANARY_ACCESS: &str = "canary-ya29-access-4be1d0c9";
const CANARY_REFRESHED: &str = "canary-ya29-refreshed-77aa03f2";

#[test]
fn no_token_appears_in_logs_or_answers() {
    let rt = runtime(
        OAuthState::connected(CANARY_ACCESS)
            .refresh(RefreshOutcome::success(CANARY_REFRESHED, 3599)),
    );
    rt.http()
        .respond_once("GET", PRIMARY_EVENTS_URL, unauthorized());
    queue_two_event_pages(&rt, PRIMARY_EVENTS_URL);
    rt.http().get_json_once(USERINFO_URL, userinfo());

    let sync = rt.call("POST", "/sync/events", json!({})).unwrap();
    let setup = rt.test_connection().unwrap();

    assert_eq!(sync.status, 200, "{}", sync.text());
    assert_eq!(setup.status, 200, "{}", setup.text());
    let calls = rt.http().calls();
    assert_eq!(
        calls[0].header("authorization"),
        Some(format!("Bearer {CANARY_ACCESS}").as_str())
    );
    assert_eq!(
        calls[1].header("authorization"),
        Some(format!("Bearer {CANARY_REFRESHED}").as_str())
    );
    let logs = rt.logs();
    assert!(
        logs.iter().any(|l| l.contains("sync finished")),
        "the route's own log lines were captured: {logs:#?}"
    );
    for line in &logs {
        assert!(!line.contains(CANARY_ACCESS), "access token in log: {line}");
        assert!(
            !line.contains(CANARY_REFRESHED),
            "refreshed token in log: {line}"
        );
    }
    for answer in [sync.text(), setup.text()] {
        assert!(!answer.contains(CANARY_ACCESS));
        assert!(!answer.contains(CANARY_REFRESHED));
    }
}

#[test]
fn no_token_appears_when_the_grant_is_revoked() {
    let rt = runtime(OAuthState::connected(CANARY_ACCESS).refresh(RefreshOutcome::invalid_grant()));
    rt.http().respond_once("GET", USERINFO_URL, unauthorized());

    let res = rt.test_connection().unwrap();

    assert_eq!(res.status, 401, "{}", res.text());
    assert!(!res.text().contains(CANARY_ACCESS));
    for line in rt.logs() {
        assert!(!line.contains(CANARY_ACCESS), "access token in log: {line}");
    }
}
