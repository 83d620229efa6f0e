//! `POST /sync/messages`: nextLink paging, the allowlist on followed links and
//! idempotent re-runs.

use keyway_testing::TestRuntime;
use serde_json::json;

use crate::support::*;

fn queue_three_pages(rt: &TestRuntime) {
    rt.http()
        .get_json_once(&first_page(2), messages_page(&[1, 2], Some(next_link(2))));
    rt.http()
        .get_json_once(&next_link(2), messages_page(&[3, 4], Some(next_link(4))));
    rt.http()
        .get_json_once(&next_link(4), messages_page(&[5], None));
}

#[test]
fn follows_next_links_and_a_rerun_imports_nothing_new() {
    let rt = connected();
    queue_three_pages(&rt);
    let first = rt
        .call("POST", "/sync/messages", json!({ "pageSize": 2 }))
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

    let calls = rt.http().calls();
    let urls: Vec<&str> = calls.iter().map(|c| c.url.as_str()).collect();
    assert_eq!(
        urls,
        vec![first_page(2), next_link(2), next_link(4)],
        "links are followed verbatim"
    );
    assert!(
        calls
            .iter()
            .all(|c| authorization(c).as_deref() == Some(&*format!("Bearer {ACCESS_TOKEN}")))
    );

    let batches = rt.ingest().calls();
    assert_eq!(batches.len(), 3);
    assert!(
        batches
            .iter()
            .all(|b| b.entity == "EmailMessage" && b.stream.as_deref() == Some("messages"))
    );
    assert_eq!(
        batches[0].keys,
        vec![
            "message/AAMkAGVmMDEz1AAA=/CQAAABYAAAB",
            "message/AAMkAGVmMDEz2AAA=/CQAAABYAAAB"
        ]
    );
    assert_eq!(rt.ingest().records().len(), 5);

    queue_three_pages(&rt);
    let second = rt
        .call("POST", "/sync/messages", json!({ "pageSize": 2 }))
        .unwrap();
    assert_eq!(second.status, 200);
    let body = second.json();
    assert_eq!(body["imported"], 0);
    assert_eq!(body["duplicates"], 5);
    assert_eq!(body["pages"], 3);
    assert_eq!(rt.ingest().records().len(), 5);
}

#[test]
fn canonical_records_carry_the_message() {
    let rt = connected();
    rt.http()
        .get_json_once(&first_page(50), messages_page(&[9], None));
    let res = rt.call("POST", "/sync/messages", json!({})).unwrap();
    assert_eq!(res.status, 200);
    let record = &rt.ingest().calls()[0].payloads[0];
    assert_eq!(record["subject"], "Message 9");
    assert_eq!(record["from"]["address"], "MeganB@contoso.com");
    assert_eq!(record["to"][0]["name"], "Adele Vance");
    assert_eq!(record["preview"], "See the attached numbers.");
    assert_eq!(record["source"]["provider"], "microsoft365");
}

#[test]
fn a_next_link_outside_the_allowlist_is_refused_and_gets_no_token() {
    let rt = connected();
    rt.http().get_json_once(
        &first_page(2),
        messages_page(
            &[1, 2],
            Some("https://graph.evil.example/v1.0/me/messages?$skip=2".into()),
        ),
    );
    rt.http()
        .get_json_once("https://graph.evil.example/*", messages_page(&[3], None));
    let res = rt
        .call("POST", "/sync/messages", json!({ "pageSize": 2 }))
        .unwrap();
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["error"]["code"], "denied");
    let calls = rt.http().calls();
    assert_eq!(
        calls.len(),
        1,
        "the foreign link never reached the provider mock"
    );
    assert_eq!(rt.http().pending().len(), 1);
    assert_eq!(
        rt.ingest().records().len(),
        2,
        "the page before the refusal is kept"
    );
}

#[test]
fn a_next_link_to_another_graph_path_is_refused() {
    let rt = connected();
    rt.http().get_json_once(
        &first_page(2),
        messages_page(
            &[1, 2],
            Some("https://graph.microsoft.com/v1.0/users?$top=999".into()),
        ),
    );
    let res = rt
        .call("POST", "/sync/messages", json!({ "pageSize": 2 }))
        .unwrap();
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["error"]["code"], "denied");
    assert_eq!(rt.http().calls().len(), 1);
}

#[test]
fn the_page_cap_stops_early() {
    let rt = connected();
    rt.http()
        .get_json_once(&first_page(2), messages_page(&[1, 2], Some(next_link(2))));
    let res = rt
        .call(
            "POST",
            "/sync/messages",
            json!({ "pageSize": 2, "maxPages": 1 }),
        )
        .unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["complete"], false);
    assert_eq!(res.json()["pages"], 1);
    assert_eq!(rt.http().calls().len(), 1);
}

#[test]
fn a_next_link_that_repeats_the_page_stops_the_sync() {
    let rt = connected();
    rt.http()
        .get_json_once(&first_page(2), messages_page(&[1, 2], Some(first_page(2))));
    let res = rt
        .call("POST", "/sync/messages", json!({ "pageSize": 2 }))
        .unwrap();
    assert_eq!(res.status, 500);
    assert_eq!(rt.http().calls().len(), 1);
}

#[test]
fn bad_options_are_refused_before_any_call() {
    let rt = connected();
    for body in [
        json!({ "pageSize": 0 }),
        json!({ "pageSize": 1001 }),
        json!({ "maxPages": 501 }),
        json!({ "top": 5 }),
    ] {
        let res = rt.call("POST", "/sync/messages", body.clone()).unwrap();
        assert_eq!(res.status, 400, "{body}");
    }
    assert!(rt.http().calls().is_empty());
}
