//! `POST /sync/invoices`: STARTPOSITION paging and idempotent re-runs.

use keyway_testing::TestRuntime;
use serde_json::json;

use crate::support::*;

fn page_url(start: u32, max: u32) -> String {
    format!(
        "https://quickbooks.api.intuit.com/v3/company/{REALM}/query?query=select%20%2A%20from%20Invoice%20STARTPOSITION%20{start}%20MAXRESULTS%20{max}&minorversion=75"
    )
}

fn queue_three_pages(rt: &TestRuntime) {
    rt.http()
        .get_json_once(&page_url(1, 2), invoice_page(1, &[101, 102]));
    rt.http()
        .get_json_once(&page_url(3, 2), invoice_page(3, &[103, 104]));
    rt.http()
        .get_json_once(&page_url(5, 2), invoice_page(5, &[105]));
}

#[test]
fn pages_until_a_short_page_and_a_rerun_imports_nothing_new() {
    let rt = connected();
    queue_three_pages(&rt);
    let first = rt
        .call("POST", "/sync/invoices", json!({ "pageSize": 2 }))
        .unwrap();
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let body = first.json();
    assert_eq!(body["imported"], 5);
    assert_eq!(body["duplicates"], 0);
    assert_eq!(body["pages"], 3);
    assert_eq!(body["complete"], true);
    rt.http().assert_all_used();

    let batches = rt.ingest().calls();
    assert_eq!(batches.len(), 3);
    assert!(
        batches
            .iter()
            .all(|b| b.entity == "Invoice" && b.stream.as_deref() == Some("invoices"))
    );
    assert_eq!(batches[0].keys, vec!["invoice/101/v0", "invoice/102/v0"]);

    let records = rt.ingest().records();
    assert_eq!(records.len(), 5);

    queue_three_pages(&rt);
    let second = rt
        .call("POST", "/sync/invoices", json!({ "pageSize": 2 }))
        .unwrap();
    assert_eq!(second.status, 200);
    let body = second.json();
    assert_eq!(body["imported"], 0);
    assert_eq!(body["duplicates"], 5);
    assert_eq!(body["pages"], 3);
    assert_eq!(rt.ingest().records().len(), 5);
    rt.http().assert_all_used();
}

#[test]
fn canonical_records_carry_the_invoice_and_the_company() {
    let rt = connected();
    rt.http()
        .get_json_once(&page_url(1, 100), invoice_page(1, &[7]));
    let res = rt.call("POST", "/sync/invoices", json!({})).unwrap();
    assert_eq!(res.status, 200);
    let batch = &rt.ingest().calls()[0];
    let record = &batch.payloads[0];
    assert_eq!(record["id"], "7");
    assert_eq!(record["number"], "107");
    assert_eq!(record["customer"]["name"], "Cool Cars");
    assert_eq!(record["total"], 100.5);
    assert_eq!(record["lines"][0]["itemName"], "Bread");
    assert_eq!(record["source"]["realmId"], REALM);
}

#[test]
fn an_empty_company_stops_after_one_page() {
    let rt = connected();
    rt.http()
        .get_json_once(&page_url(1, 100), invoice_page(1, &[]));
    let res = rt.call("POST", "/sync/invoices", json!({})).unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["pages"], 1);
    assert_eq!(res.json()["imported"], 0);
    assert!(rt.ingest().calls().is_empty());
}

#[test]
fn the_page_cap_stops_early_and_says_where_to_continue() {
    let rt = connected();
    rt.http()
        .get_json_once(&page_url(1, 2), invoice_page(1, &[1, 2]));
    let res = rt
        .call(
            "POST",
            "/sync/invoices",
            json!({ "pageSize": 2, "maxPages": 1 }),
        )
        .unwrap();
    assert_eq!(res.status, 200);
    let body = res.json();
    assert_eq!(body["complete"], false);
    assert_eq!(body["nextStartPosition"], 3);

    rt.http()
        .get_json_once(&page_url(3, 2), invoice_page(3, &[3]));
    let res = rt
        .call(
            "POST",
            "/sync/invoices",
            json!({ "pageSize": 2, "startPosition": 3 }),
        )
        .unwrap();
    assert_eq!(res.json()["imported"], 1);
    assert_eq!(res.json()["complete"], true);
    assert_eq!(rt.ingest().records().len(), 3);
}

#[test]
fn bad_options_are_refused_before_any_call() {
    let rt = connected();
    for body in [
        json!({ "pageSize": 0 }),
        json!({ "pageSize": 1001 }),
        json!({ "maxPages": 0 }),
        json!({ "startPosition": 0 }),
    ] {
        let res = rt.call("POST", "/sync/invoices", body.clone()).unwrap();
        assert_eq!(res.status, 400, "{body}");
    }
    let res = rt
        .call("POST", "/sync/invoices", json!({ "pagesize": 5 }))
        .unwrap();
    assert_eq!(res.status, 400, "unknown options are refused");
    assert!(rt.http().calls().is_empty());
}

#[test]
fn a_malformed_intuit_answer_is_an_error_not_a_panic() {
    let rt = connected();
    rt.http()
        .get_json_once(&page_url(1, 100), json!({ "unexpected": true }));
    let res = rt.call("POST", "/sync/invoices", json!({})).unwrap();
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["error"]["code"], "invalid_input");
    assert!(rt.ingest().records().is_empty());
}
