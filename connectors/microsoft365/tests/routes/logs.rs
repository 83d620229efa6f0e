//! No token appears in any log line or route answer, through refreshes and failures.

use keyway_testing::{MockResponse, OAuthState, RefreshOutcome};
use serde_json::json;

use crate::support::*;

const SECOND_TOKEN: &str = "canary-second-refresh-6e02b4";

#[test]
fn no_token_in_logs_or_answers() {
    let rt = runtime(
        OAuthState::connected(ACCESS_TOKEN)
            .refresh(RefreshOutcome::success(REFRESHED_TOKEN, 3600))
            .refresh(RefreshOutcome::success(SECOND_TOKEN, 3600)),
    );
    rt.http()
        .respond_once("GET", MESSAGES, MockResponse::status(401).body("expired"));
    rt.http().get_json_once(MESSAGES, messages_page(&[1], None));
    let sync = rt.call("POST", "/sync/messages", json!({})).unwrap();
    assert_eq!(sync.status, 200);
    rt.http().respond_once("GET", ME, MockResponse::status(401));
    rt.http().respond_once("GET", ME, MockResponse::status(401));
    let failed = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(failed.status, 401, "{}", failed.text());
    assert_eq!(rt.token_requests(), 2);

    let logs = rt.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("Microsoft 365 message page stored")),
        "the connector's own log lines are captured: {logs:#?}"
    );
    for canary in [ACCESS_TOKEN, REFRESHED_TOKEN, SECOND_TOKEN] {
        for line in &logs {
            assert!(!line.contains(canary), "log line leaks a token: {line}");
        }
        for body in [&sync.body, &failed.body] {
            assert!(!String::from_utf8_lossy(body).contains(canary));
        }
    }
}
