//! `/sync/orders`: locations first, then SearchOrders pages with Square's cursor, ten
//! locations per search, and an idempotent re-run.

use crate::common::*;
use serde_json::{Value, json};

fn queue_order_pages(rt: &keyway_testing::TestRuntime) {
    rt.http().get_json_once(
        LOCATIONS_URL,
        json!({ "locations": [{ "id": "L1", "status": "ACTIVE" }, { "id": "L2", "status": "INACTIVE" }] }),
    );
    rt.http().post_json_once(
        SEARCH_URL,
        json!({ "orders": [order("O1", 2, "L1"), order("O2", 1, "L2")], "cursor": "orders-c2" }),
    );
    rt.http()
        .post_json_once(SEARCH_URL, json!({ "orders": [order("O3", 5, "L1")] }));
}

#[test]
fn searches_orders_of_every_location_and_a_rerun_imports_nothing_new() {
    let rt = connected();
    queue_order_pages(&rt);

    let first = rt.call("POST", "/sync/orders", json!({})).unwrap();

    assert_eq!(first.status, 200, "{}", first.text());
    let body = first.json();
    assert_eq!(body["stream"], "orders");
    assert_eq!(body["pages"], 2);
    assert_eq!(body["imported"], 3);
    assert_eq!(body["duplicates"], 0);
    rt.http().assert_all_used();

    let calls = rt.http().calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].method, "GET");
    let search1: Value = calls[1].json();
    assert_eq!(calls[1].method, "POST");
    assert_eq!(calls[1].header("square-version"), Some(SQUARE_VERSION));
    assert_eq!(calls[1].header("content-type"), Some("application/json"));
    assert_eq!(search1["location_ids"], json!(["L1", "L2"]));
    assert!(search1.get("cursor").is_none());
    assert_eq!(calls[2].json()["cursor"], "orders-c2");

    let ingested = rt.ingest().calls();
    assert!(ingested.iter().all(|c| c.entity == "Order"));
    assert!(
        ingested
            .iter()
            .all(|c| c.stream.as_deref() == Some("orders"))
    );
    assert_eq!(
        ingested[0].keys,
        vec!["square:order:O1:v2", "square:order:O2:v1"]
    );
    let o1 = rt
        .ingest()
        .records()
        .into_iter()
        .find(|r| r.payload["id"] == "O1")
        .unwrap();
    assert_eq!(o1.payload["totalAmount"], 1500);
    assert_eq!(o1.payload["lineItems"][0]["name"], "Latte");

    queue_order_pages(&rt);
    let second = rt.call("POST", "/sync/orders", json!({})).unwrap();

    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(second.json()["imported"], 0);
    assert_eq!(second.json()["duplicates"], 3);
    assert_eq!(rt.ingest().records().len(), 3);
}

#[test]
fn more_than_ten_locations_are_searched_in_chunks() {
    let rt = connected();
    let locations: Vec<Value> = (1..=12).map(|i| json!({ "id": format!("L{i}") })).collect();
    rt.http()
        .get_json_once(LOCATIONS_URL, json!({ "locations": locations }));
    rt.http()
        .post_json_once(SEARCH_URL, json!({ "orders": [order("O1", 1, "L1")] }));
    rt.http()
        .post_json_once(SEARCH_URL, json!({ "orders": [order("O11", 1, "L11")] }));

    let res = rt.call("POST", "/sync/orders", json!({})).unwrap();

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["pages"], 2);
    assert_eq!(res.json()["imported"], 2);
    let calls = rt.http().calls();
    assert_eq!(
        calls[1].json()["location_ids"].as_array().unwrap().len(),
        10
    );
    assert_eq!(calls[2].json()["location_ids"], json!(["L11", "L12"]));
}

#[test]
fn a_merchant_without_locations_syncs_nothing() {
    let rt = connected();
    rt.http().get_json_once(LOCATIONS_URL, json!({}));

    let res = rt.call("POST", "/sync/orders", json!({})).unwrap();

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["pages"], 0);
    assert_eq!(res.json()["imported"], 0);
    assert_eq!(rt.http().calls().len(), 1);
}
