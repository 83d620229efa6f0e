//! Self-tests of the test runtime, run against the `fixture` connector: the mock
//! provider's queue and reports, each seeded refresh outcome, missing token and scope,
//! timeouts, host-side injection as the provider sees it, ingest, and log capture with
//! canary secrets.

use keyway_testing::{Error, MockResponse, OAuthState, RefreshOutcome, TestRuntime};
use serde_json::json;
use std::time::Duration;

const ITEMS: &str = "https://api.example.com/v1/items";
const CANARY_TOKEN: &str = "canary-token-7f3a9c";
const CANARY_SECRET: &str = "canary-secret-51d2e8";

fn fixture() -> String {
    format!("{}/tests/fixture", env!("CARGO_MANIFEST_DIR"))
}

fn connected() -> TestRuntime {
    TestRuntime::builder(fixture())
        .oauth(OAuthState::connected(CANARY_TOKEN))
        .build()
        .unwrap()
}

fn error_code(res: &keyway_testing::RouteResult) -> String {
    res.json()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn injection_is_visible_in_calls_and_the_answer_reaches_the_route() {
    let rt = connected();
    rt.http().get_json_once(ITEMS, json!({ "items": [1, 2] }));
    let res = rt.call("POST", "/items", json!({})).unwrap();
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["status"], 200);
    assert_eq!(res.json()["body"], json!({ "items": [1, 2] }).to_string());
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "GET");
    assert_eq!(calls[0].url, ITEMS);
    let auth = format!("Bearer {CANARY_TOKEN}");
    assert_eq!(calls[0].header("authorization"), Some(auth.as_str()));
    assert!(rt.http().pending().is_empty());
    assert!(rt.http().unexpected().is_empty());
    rt.http().assert_all_used();
    assert_eq!(rt.token_requests(), 0);
}

#[test]
fn unexpected_call_is_named_to_the_guest_and_recorded() {
    let rt = connected();
    let res = rt.call("POST", "/items?page=3", json!({})).unwrap();
    assert_eq!(error_code(&res), "provider_unavailable", "{}", res.text());
    let message = res.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("GET https://api.example.com/v1/items?page=3"),
        "{message}"
    );
    let unexpected = rt.http().unexpected();
    assert_eq!(unexpected.len(), 1);
    assert_eq!(unexpected[0].url, format!("{ITEMS}?page=3"));
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.http().assert_all_used()))
            .unwrap_err();
    let text = panic.downcast_ref::<String>().unwrap();
    assert!(
        text.contains("GET https://api.example.com/v1/items?page=3"),
        "{text}"
    );
}

#[test]
fn unmet_queued_response_is_reported() {
    let rt = connected();
    rt.http().get_json_once(ITEMS, json!({}));
    rt.http().respond_once(
        "GET",
        "https://api.example.com/v1/other?*",
        MockResponse::status(204),
    );
    rt.call("POST", "/items", json!({})).unwrap();
    assert_eq!(
        rt.http().pending(),
        vec!["GET https://api.example.com/v1/other?*".to_string()]
    );
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.http().assert_all_used()))
            .unwrap_err();
    let text = panic.downcast_ref::<String>().unwrap();
    assert!(
        text.contains("GET https://api.example.com/v1/other?*"),
        "{text}"
    );
    assert!(text.contains("1 queued response(s) never used"), "{text}");
}

#[test]
fn answers_for_one_pattern_are_used_in_order_and_stars_match_queries() {
    let rt = connected();
    rt.http()
        .respond_once(
            "GET",
            &format!("{ITEMS}?*"),
            MockResponse::status(200).body("first"),
        )
        .respond_once(
            "GET",
            &format!("{ITEMS}?*"),
            MockResponse::status(200).body("second"),
        );
    let a = rt.call("POST", "/items?page=1", json!({})).unwrap();
    let b = rt.call("POST", "/items?page=2", json!({})).unwrap();
    assert_eq!(a.json()["body"], "first");
    assert_eq!(b.json()["body"], "second");
    rt.http().assert_all_used();
}

#[test]
fn refresh_success_injects_the_new_token_on_the_retry_after_a_401() {
    let rt = TestRuntime::builder(fixture())
        .oauth(
            OAuthState::connected("old-token-aaaa")
                .refresh(RefreshOutcome::success("new-token-bbbb", 3600)),
        )
        .build()
        .unwrap();
    rt.http()
        .respond_once("GET", ITEMS, MockResponse::status(401))
        .get_json_once(ITEMS, json!({ "ok": true }));
    let res = rt.call("POST", "/items", json!({})).unwrap();
    assert_eq!(res.json()["status"], 200, "{}", res.text());
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0].header("authorization"),
        Some("Bearer old-token-aaaa")
    );
    assert_eq!(
        calls[1].header("authorization"),
        Some("Bearer new-token-bbbb")
    );
    assert_eq!(rt.token_requests(), 1);
    assert_eq!(rt.unused_refresh_outcomes(), 0);
}

#[test]
fn refresh_invalid_grant_is_reauth_required_and_stays_so() {
    let rt = TestRuntime::builder(fixture())
        .oauth(OAuthState::connected(CANARY_TOKEN).refresh(RefreshOutcome::invalid_grant()))
        .build()
        .unwrap();
    rt.http()
        .respond_once("GET", ITEMS, MockResponse::status(401));
    let res = rt.call("POST", "/items", json!({})).unwrap();
    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(error_code(&res), "reauth_required");
    assert!(res.text().contains("invalid_grant"), "{}", res.text());
    assert_eq!(rt.token_requests(), 1);
    // The grant is gone: the next call fails before any request, with no new refresh.
    let again = rt.call("POST", "/token", json!({})).unwrap();
    assert_eq!(error_code(&again), "reauth_required");
    assert_eq!(rt.token_requests(), 1);
    assert_eq!(rt.http().calls().len(), 1);
}

#[test]
fn refresh_unavailable_is_provider_unavailable_not_reauth() {
    let rt = TestRuntime::builder(fixture())
        .oauth(
            OAuthState::connected(CANARY_TOKEN)
                .expires_in(Duration::from_secs(10))
                .refresh(RefreshOutcome::unavailable()),
        )
        .build()
        .unwrap();
    // The token lives 10 s; the route wants 60 s, so the host refreshes first.
    let res = rt.call("POST", "/token", json!({})).unwrap();
    assert_eq!(res.status, 503, "{}", res.text());
    assert_eq!(error_code(&res), "provider_unavailable");
    assert!(res.text().contains("HTTP 503"), "{}", res.text());
    assert_eq!(rt.token_requests(), 1);
    let again = rt.call("POST", "/token", json!({})).unwrap();
    assert_eq!(
        error_code(&again),
        "provider_unavailable",
        "cooldown, not reauth"
    );
    assert_eq!(rt.token_requests(), 1, "no refresh during the cooldown");
}

#[test]
fn refresh_with_nothing_seeded_is_an_internal_error_naming_the_fix() {
    let rt = connected();
    rt.http()
        .respond_once("GET", ITEMS, MockResponse::status(401));
    let res = rt.call("POST", "/items", json!({})).unwrap();
    assert_eq!(error_code(&res), "internal", "{}", res.text());
    assert!(res.text().contains("OAuthState::refresh"), "{}", res.text());
}

#[test]
fn no_refresh_token_means_reauth_without_a_refresh() {
    let rt = TestRuntime::builder(fixture())
        .oauth(
            OAuthState::connected(CANARY_TOKEN)
                .refresh_allowed(false)
                .refresh(RefreshOutcome::success("never-used", 60)),
        )
        .build()
        .unwrap();
    rt.http()
        .respond_once("GET", ITEMS, MockResponse::status(401));
    let res = rt.call("POST", "/items", json!({})).unwrap();
    assert_eq!(error_code(&res), "reauth_required", "{}", res.text());
    assert_eq!(rt.token_requests(), 0);
    assert_eq!(rt.unused_refresh_outcomes(), 1);
}

#[test]
fn missing_token_is_reauth_required_before_any_request() {
    let rt = TestRuntime::builder(fixture())
        .oauth(OAuthState::none())
        .build()
        .unwrap();
    let res = rt.call("POST", "/items", json!({})).unwrap();
    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(error_code(&res), "reauth_required");
    assert!(
        res.text().contains("pending_authorization"),
        "{}",
        res.text()
    );
    assert!(rt.http().calls().is_empty(), "no request without a token");
}

#[test]
fn missing_scope_is_named() {
    let rt = TestRuntime::builder(fixture())
        .oauth(OAuthState::connected(CANARY_TOKEN).scopes(["items.read"]))
        .build()
        .unwrap();
    let res = rt.call("POST", "/items", json!({})).unwrap();
    assert_eq!(res.status, 403, "{}", res.text());
    assert_eq!(error_code(&res), "missing_scopes");
    assert!(res.text().contains("items.write"), "{}", res.text());
    assert!(rt.http().calls().is_empty());
}

#[test]
fn required_scopes_decide_what_a_grant_must_hold() {
    // Only items.read required: a grant without items.write still works.
    let rt = TestRuntime::builder(fixture())
        .oauth(
            OAuthState::connected(CANARY_TOKEN)
                .scopes(["items.read"])
                .required_scopes(["items.read"]),
        )
        .build()
        .unwrap();
    rt.http().get_json_once(ITEMS, json!({ "items": [] }));
    let res = rt.call("POST", "/items", json!({})).unwrap();
    assert_ne!(error_code(&res), "missing_scopes", "{}", res.text());
    // A required scope the manifest never requests is refused at build time.
    let err = TestRuntime::builder(fixture())
        .oauth(OAuthState::connected(CANARY_TOKEN).required_scopes(["admin"]))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("`admin`"), "{err}");
}

#[test]
fn timeout_is_the_hosts_timeout_error() {
    let rt = connected();
    rt.http()
        .respond_once("GET", ITEMS, MockResponse::timeout());
    let res = rt.call("POST", "/items", json!({})).unwrap();
    assert_eq!(res.status, 504, "{}", res.text());
    assert_eq!(error_code(&res), "timeout");
    assert!(
        res.text().contains("https://api.example.com"),
        "{}",
        res.text()
    );
}

#[test]
fn canary_secret_and_token_are_absent_from_every_log_line() {
    let rt = TestRuntime::builder(fixture())
        .secret("api_key", CANARY_SECRET)
        .oauth(OAuthState::connected(CANARY_TOKEN))
        .build()
        .unwrap();
    rt.http().get_json_once(ITEMS, json!({}));
    rt.call("POST", "/items", json!({})).unwrap();
    let res = rt.call("POST", "/log", json!({})).unwrap();
    assert_eq!(res.status, 200, "{}", res.text());
    let logs = rt.logs();
    // The capture works: each of the three channels left a line, redacted.
    for wanted in [
        "fixture log door with",
        "fixture stdout with",
        "fixture stderr with",
    ] {
        assert!(
            logs.iter()
                .any(|l| l.contains(wanted) && l.contains("[REDACTED]")),
            "no redacted line with {wanted:?} in {logs:#?}"
        );
    }
    assert!(
        logs.iter().any(|l| l.contains(&res.invocation_id)),
        "{logs:#?}"
    );
    for line in &logs {
        assert!(!line.contains(CANARY_SECRET), "secret in log line: {line}");
        assert!(!line.contains(CANARY_TOKEN), "token in log line: {line}");
    }
}

#[test]
fn parallel_runtimes_keep_their_own_log_lines() {
    let handles: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let secret = format!("parallel-secret-{i}-xxxxxxxx");
                let rt = TestRuntime::builder(fixture())
                    .connection(&format!("conn-{i}"))
                    .secret("api_key", secret)
                    .build()
                    .unwrap();
                rt.call("POST", "/log", json!({})).unwrap();
                let logs = rt.logs();
                let own = format!("connection=conn-{i}");
                assert!(logs.iter().any(|l| l.contains(&own)), "{logs:#?}");
                for j in (0..4).filter(|j| *j != i) {
                    let other = format!("conn-{j}");
                    assert!(
                        !logs.iter().any(|l| l.contains(&other)),
                        "{other} in {logs:#?}"
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn ingest_is_recorded_with_keys_and_deduplicated() {
    let rt = connected();
    let body = json!({ "items": [{ "id": "a", "n": 1 }, { "id": "b", "n": 2 }] });
    let first = rt.call("POST", "/store", body.clone()).unwrap();
    assert_eq!(first.json()["imported"], 2, "{}", first.text());
    let second = rt.call("POST", "/store", body).unwrap();
    assert_eq!(second.json()["imported"], 0);
    assert_eq!(second.json()["duplicates"], 2);
    let calls = rt.ingest().calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].entity, "Item");
    assert_eq!(calls[0].stream.as_deref(), Some("items"));
    assert_eq!(calls[0].keys, vec!["a", "b"]);
    assert_eq!(calls[0].payloads[1]["n"], 2);
    let records = rt.ingest().records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].key, "a");
}

#[test]
fn setup_mistakes_are_reported() {
    let err = TestRuntime::builder(fixture())
        .auth_option("apiKey")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, Error::Setup(ref m) if m.contains("has no auth options") && m.contains("`apiKey`")),
        "{err}"
    );
    let err = TestRuntime::builder(fixture())
        .setting("api_key", "plain")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, Error::Setup(ref m) if m.contains("api_key")),
        "{err}"
    );
    let err = TestRuntime::builder(fixture())
        .setting("no_such_setting", "x")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, Error::Settings { ref problems, .. } if problems.contains("no_such_setting")),
        "{err}"
    );
    let err = TestRuntime::builder(format!("{}/no-such-dir", env!("CARGO_MANIFEST_DIR")))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Crate(_)), "{err}");
    let rt = connected();
    let err = rt.call("BREW", "/items", json!({})).unwrap_err();
    assert!(matches!(err, Error::Request(_)), "{err}");
    let err = rt.call("POST", "/nope", json!({})).unwrap_err();
    assert!(
        matches!(err, Error::Invoke { ref code, .. } if code == "route_not_found"),
        "{err}"
    );
}

#[test]
fn api_paths_go_under_the_base_with_its_headers_and_credential() {
    let rt = connected();
    let orders = "https://api.example.com/v2/orders?limit=2";
    rt.http().get_json_once(orders, json!({ "orders": [] }));
    let res = rt
        .call("POST", "/api/get", json!({ "path": "/orders?limit=2" }))
        .unwrap();
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["status"], 200);
    let calls = rt.http().calls();
    assert_eq!(calls[0].url, orders);
    assert_eq!(calls[0].header("x-client"), Some("fixture"));
    assert_eq!(calls[0].header("accept"), Some("application/json"));
    let auth = format!("Bearer {CANARY_TOKEN}");
    assert_eq!(calls[0].header("authorization"), Some(auth.as_str()));

    // A header the route sets wins over the default of that name.
    rt.http()
        .get_json_once("https://api.example.com/v2/me", json!({}));
    let res = rt
        .call(
            "POST",
            "/api/get",
            json!({ "path": "/me", "accept": "text/csv" }),
        )
        .unwrap();
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(rt.http().calls()[1].header("accept"), Some("text/csv"));

    // A path that would climb out of the base is refused before any request.
    for path in [
        "/../v1/items",
        "/%2e%2e/v1/items",
        "//evil.example.com/x",
        "orders",
    ] {
        let res = rt
            .call("POST", "/api/get", json!({ "path": path }))
            .unwrap();
        assert_eq!(error_code(&res), "invalid_input", "{path}: {}", res.text());
    }
    assert_eq!(rt.http().calls().len(), 2);
    rt.http().assert_all_used();
}
