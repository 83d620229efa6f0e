//! No app connection's token reaches the route's answer or a log line (canary values),
//! even when a provider reflects it, while the recorded calls show each where it was sent.

use crate::common::*;
use keyway_testing::RefreshOutcome;
use serde_json::json;

fn assert_clean(rt: &keyway_testing::TestRuntime, answer: &str, tokens: &[&str]) {
    for token in tokens {
        assert!(!answer.contains(token), "token in the answer: {answer}");
        for line in rt.logs() {
            assert!(!line.contains(token), "token in a log line: {line}");
        }
    }
}

#[test]
fn injected_and_read_tokens_are_sent_but_never_answered() {
    let rt = both_connected();
    // Both providers reflect the credential they were sent.
    rt.http().get_json_once(
        USERINFO_URL,
        json!({ "sub": "s-1", "email": "ada@acme.example",
                "name": format!("Bearer {GOOGLE_TOKEN}") }),
    );
    rt.http().get_json_once(
        GRAPH_ME_URL,
        json!({ "id": "u-1", "mail": "adele@contoso.example",
                "displayName": format!("Bearer {MICROSOFT_TOKEN}") }),
    );

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    let calls = rt.http().calls();
    assert_eq!(
        calls[0].header("authorization"),
        Some(format!("Bearer {GOOGLE_TOKEN}").as_str())
    );
    assert_eq!(
        calls[1].header("authorization"),
        Some(format!("Bearer {MICROSOFT_TOKEN}").as_str())
    );
    assert!(res.text().contains("[REDACTED]"), "{}", res.text());
    assert_clean(&rt, &res.text(), &[GOOGLE_TOKEN, MICROSOFT_TOKEN]);
}

#[test]
fn a_refreshed_injected_token_is_never_answered() {
    let rt = runtime(
        google(),
        microsoft().refresh(RefreshOutcome::success(MICROSOFT_REFRESHED, 3599)),
    );
    rt.http().get_json_once(USERINFO_URL, userinfo());
    rt.http().respond_once(
        "GET",
        GRAPH_ME_URL,
        graph_error(401, "InvalidAuthenticationToken"),
    );
    rt.http().get_json_once(
        GRAPH_ME_URL,
        json!({ "id": "u-1", "displayName": MICROSOFT_REFRESHED }),
    );

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        rt.http().calls()[2].header("authorization"),
        Some(format!("Bearer {MICROSOFT_REFRESHED}").as_str())
    );
    assert_clean(
        &rt,
        &res.text(),
        &[GOOGLE_TOKEN, MICROSOFT_TOKEN, MICROSOFT_REFRESHED],
    );
}
