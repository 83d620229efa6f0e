//! `/sync/payments`: paging with Square's cursor, canonical records with idempotency
//! keys, an idempotent re-run, `maxPages`, and a rate limit surfaced with its hint.

use crate::common::*;
use keyway_testing::MockResponse;
use serde_json::json;

#[test]
fn pages_through_payments_and_a_rerun_imports_nothing_new() {
    let rt = connected();
    queue_two_payment_pages(&rt);

    let first = rt.call("POST", "/sync/payments", json!({})).unwrap();

    assert_eq!(first.status, 200, "{}", first.text());
    let body = first.json();
    assert_eq!(body["stream"], "payments");
    assert_eq!(body["pages"], 2);
    assert_eq!(body["imported"], 3);
    assert_eq!(body["duplicates"], 0);
    assert_eq!(body["failed"], 0);
    assert_eq!(body["complete"], true);
    rt.http().assert_all_used();

    let calls = rt.ingest().calls();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.entity == "Payment"));
    assert!(
        calls
            .iter()
            .all(|c| c.stream.as_deref() == Some("payments"))
    );
    assert_eq!(
        calls[0].keys,
        vec![
            "square:payment:PAY1:2026-03-01T10:01:00.000Z",
            "square:payment:PAY2:2026-03-01T11:01:00.000Z"
        ]
    );
    let records = rt.ingest().records();
    assert_eq!(records.len(), 3);
    let pay1 = records.iter().find(|r| r.payload["id"] == "PAY1").unwrap();
    assert_eq!(pay1.payload["amount"], 1250);
    assert_eq!(pay1.payload["currency"], "USD");
    assert_eq!(pay1.payload["orderId"], "ORD-PAY1");
    assert!(!pay1.payload.to_string().contains("4242"));

    queue_two_payment_pages(&rt);
    let second = rt.call("POST", "/sync/payments", json!({})).unwrap();

    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(second.json()["pages"], 2);
    assert_eq!(second.json()["imported"], 0);
    assert_eq!(second.json()["duplicates"], 3);
    assert_eq!(rt.ingest().records().len(), 3);
    rt.http().assert_all_used();
}

#[test]
fn an_updated_payment_is_stored_as_a_new_version() {
    let rt = connected();
    rt.http().get_json_once(
        PAYMENTS_URL,
        json!({ "payments": [payment("PAY1", 1250, "2026-03-01T10:01:00.000Z")] }),
    );
    rt.http().get_json_once(
        PAYMENTS_URL,
        json!({ "payments": [payment("PAY1", 1250, "2026-03-05T08:00:00.000Z")] }),
    );

    let first = rt.call("POST", "/sync/payments", json!({})).unwrap();
    let second = rt.call("POST", "/sync/payments", json!({})).unwrap();

    assert_eq!(first.json()["imported"], 1);
    assert_eq!(second.json()["imported"], 1);
    assert_eq!(rt.ingest().records().len(), 2);
}

#[test]
fn max_pages_stops_early_and_says_so() {
    let rt = connected();
    rt.http().get_json_once(
        PAYMENTS_URL,
        json!({ "payments": [payment("PAY1", 1250, "2026-03-01T10:01:00.000Z")], "cursor": "next" }),
    );

    let res = rt
        .call("POST", "/sync/payments", json!({ "maxPages": 1 }))
        .unwrap();

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["pages"], 1);
    assert_eq!(res.json()["imported"], 1);
    assert_eq!(res.json()["complete"], false);
    assert_eq!(rt.http().calls().len(), 1);
}

#[test]
fn bad_max_pages_is_a_bad_request() {
    let rt = connected();

    let res = rt
        .call("POST", "/sync/payments", json!({ "maxPages": 0 }))
        .unwrap();

    assert_eq!(res.status, 400, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "invalid_input");
    assert!(rt.http().calls().is_empty());
}

#[test]
fn rate_limit_is_a_provider_error_with_the_retry_hint_and_progress() {
    let rt = connected();
    rt.http().get_json_once(
        PAYMENTS_URL,
        json!({
            "payments": [
                payment("PAY1", 1250, "2026-03-01T10:01:00.000Z"),
                payment("PAY2", 800, "2026-03-01T11:01:00.000Z")
            ],
            "cursor": "c2"
        }),
    );
    rt.http().respond_once(
        "GET",
        &payments_page_url("c2"),
        MockResponse::json(429, square_error("RATE_LIMIT_ERROR", "RATE_LIMITED"))
            .header("Retry-After", "30"),
    );

    let res = rt.call("POST", "/sync/payments", json!({})).unwrap();

    assert_eq!(res.status, 502, "{}", res.text());
    assert_eq!(res.header("retry-after"), Some("30"));
    let error = &res.json()["error"];
    assert_eq!(error["code"], "provider_error");
    assert_eq!(error["details"]["providerStatus"], 429);
    assert_eq!(error["details"]["retryAfterSeconds"], 30);
    assert_eq!(error["details"]["progress"]["imported"], 2);
    assert_eq!(error["details"]["progress"]["pages"], 1);
    assert_eq!(rt.ingest().records().len(), 2);
    assert_eq!(rt.token_requests(), 0);
    rt.http().assert_all_used();
}

#[test]
fn a_page_that_is_not_json_is_a_provider_error() {
    let rt = connected();
    rt.http().respond_once(
        "GET",
        PAYMENTS_URL,
        MockResponse::status(200).body("<html>maintenance</html>"),
    );

    let res = rt.call("POST", "/sync/payments", json!({})).unwrap();

    assert_eq!(res.status, 502, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "provider_error");
    assert!(rt.ingest().records().is_empty());
}
