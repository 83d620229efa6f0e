//! The sandbox connector's `orders` stream and `orders` webhook, proven with the test
//! runtime the way an author proves theirs: a backfill checkpoints after every page and
//! ends with the newest `updatedAt`; a run resumed from a cursor asks only for what is
//! left; a route that fails half-way keeps the pages it checkpointed; a signed delivery
//! reaches the route and a badly signed one never does.

use keyway_testing::{MockResponse, OAuthState, TestRuntime};
use serde_json::{Value, json};

const ORDERS: &str = "http://127.0.0.1:8788/api/orders*";

fn runtime() -> TestRuntime {
    TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .oauth(OAuthState::connected("sandbox-token-canary-9a1f"))
        .secret("webhook_secret", "sandbox-whsec-canary-2b7e")
        .build()
        .expect("the sandbox connector builds and loads")
}

fn order(n: u32, updated: &str) -> Value {
    json!({ "id": format!("ord_{n:04}"), "updatedAt": updated, "totalCents": 100 })
}

#[test]
fn a_backfill_checkpoints_every_page_and_then_asks_only_for_what_changed() {
    let rt = runtime();
    rt.http()
        .get_json_once(
            ORDERS,
            json!({ "orders": [order(0, "2026-01-01T00:30:00Z")], "nextCursor": "c_1" }),
        )
        .get_json_once(
            ORDERS,
            json!({ "orders": [order(1, "2026-01-01T01:30:00Z")], "nextCursor": null }),
        );
    let stream = rt.stream("orders").expect("the manifest declares it");
    let run = stream.run().expect("the run");
    assert!(run.succeeded, "{}", run.result.text());
    assert_eq!(run.imported, 2);
    let cursors: Vec<Value> = run
        .checkpoints
        .iter()
        .map(|c| serde_json::from_str(c).expect("a JSON cursor"))
        .collect();
    assert_eq!(
        cursors,
        [
            json!({ "since": null, "page": "c_1" }),
            json!({ "since": "2026-01-01T01:30:00Z", "page": null }),
        ]
    );
    let calls = rt.http().calls();
    assert!(!calls[0].url.contains("updated_since"), "{}", calls[0].url);
    assert!(calls[1].url.ends_with("cursor=c%5F1"), "{}", calls[1].url);

    // The next run asks for orders updated after the newest one seen.
    rt.http().get_json_once(
        ORDERS,
        json!({ "orders": [order(2, "2026-12-06T10:00:00Z")], "nextCursor": null }),
    );
    let next = stream.run().expect("the next run");
    assert_eq!(next.imported, 1);
    let url = &rt.http().calls()[2].url;
    assert!(
        url.contains("updated_since=2026%2D01%2D01T01%3A30%3A00Z"),
        "{url}"
    );
    rt.http().assert_all_used();
    assert_eq!(rt.ingest().records_of("order").len(), 3);
}

#[test]
fn a_run_that_fails_half_way_keeps_what_it_checkpointed_and_resumes_there() {
    let rt = runtime();
    rt.http()
        .get_json_once(
            ORDERS,
            json!({ "orders": [order(0, "2026-01-01T00:30:00Z")], "nextCursor": "c_1" }),
        )
        .respond_once("GET", ORDERS, MockResponse::status(503));
    let stream = rt.stream("orders").expect("stream");
    let failed = stream.run().expect("the run ends");
    assert!(!failed.succeeded);
    assert!(failed.result.status >= 500, "{}", failed.result.text());
    // Page one was committed with its checkpoint; nothing of page two was.
    assert_eq!(rt.ingest().records_of("order").len(), 1);
    let cursor: Value = serde_json::from_str(&failed.cursor.expect("a cursor")).expect("JSON");
    assert_eq!(cursor, json!({ "since": null, "page": "c_1" }));

    rt.http().get_json_once(
        ORDERS,
        json!({ "orders": [order(1, "2026-01-01T01:30:00Z")], "nextCursor": null }),
    );
    let resumed = stream.run().expect("the resumed run");
    assert!(resumed.succeeded);
    assert_eq!(resumed.imported, 1);
    assert!(rt.http().calls()[2].url.contains("cursor=c%5F1"));
    assert_eq!(rt.ingest().records_of("order").len(), 2);
    assert!(
        rt.logs()
            .iter()
            .all(|l| !l.contains("sandbox-token-canary-9a1f"))
    );
}

#[test]
fn a_signed_delivery_reaches_the_route_and_a_badly_signed_one_never_does() {
    let rt = runtime();
    let hook = rt.webhook("orders").expect("the manifest declares it");
    let body =
        json!({ "type": "order.created", "order": order(7, "2026-12-06T10:00:00Z") }).to_string();
    let res = hook
        .deliver_signed(body.as_bytes(), "dlv-1")
        .expect("delivered");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["ordersImported"], 1);
    assert_eq!(rt.ingest().records_of("webhook_event").len(), 1);
    assert_eq!(
        rt.ingest().records_of("webhook_event")[0].key,
        "sandbox-event-dlv-1"
    );

    let err = hook
        .deliver(body.as_bytes(), &[("X-Sandbox-Signature", "00ff")])
        .expect_err("refused");
    assert!(err.to_string().contains("signature"), "{err}");
    assert_eq!(rt.ingest().records_of("webhook_event").len(), 1);
    assert!(
        rt.logs()
            .iter()
            .all(|l| !l.contains("sandbox-whsec-canary-2b7e"))
    );
    assert!(rt.stream("refunds").is_err());
}
