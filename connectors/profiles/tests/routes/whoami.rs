//! Both app connections answer: one merged profile, Google's token sent by the route and
//! Microsoft's injected by the host, each on its own request.

use crate::common::*;
use keyway_testing::MockResponse;
use serde_json::json;

#[test]
fn both_connections_answer_one_merged_profile() {
    let rt = both_connected();
    queue_both(&rt);

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["name"], "Ada Lovelace");
    assert_eq!(body["email"], "ada@acme.example");
    assert_eq!(
        body["emails"],
        json!(["ada@acme.example", "AdeleV@contoso.example"])
    );
    assert_eq!(body["complete"], true);
    assert_eq!(body["failed"], json!([]));
    assert_eq!(
        section(&body, "google"),
        json!({ "connection": "google-oauth", "ok": true, "id": "110248495921238986420",
                "email": "ada@acme.example", "name": "Ada Lovelace" })
    );
    assert_eq!(
        section(&body, "microsoft"),
        json!({ "connection": "ms365-oauth", "ok": true,
                "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
                "email": "AdeleV@contoso.example", "name": "Adele Vance" })
    );
    // Nothing else either provider sent is answered.
    assert!(!res.text().contains("Retail Manager"));
    assert!(!res.text().contains("photo"));

    let calls = rt.http().calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].url, USERINFO_URL);
    assert_eq!(
        calls[0].header("authorization"),
        Some(format!("Bearer {GOOGLE_TOKEN}").as_str())
    );
    assert_eq!(calls[1].url, GRAPH_ME_URL);
    assert_eq!(
        calls[1].header("authorization"),
        Some(format!("Bearer {MICROSOFT_TOKEN}").as_str())
    );
    rt.http().assert_all_used();
    assert_eq!(rt.app_token_requests(GOOGLE), 0);
    assert_eq!(rt.app_token_requests(MICROSOFT), 0);
}

#[test]
fn a_graph_user_without_a_mailbox_is_known_by_its_sign_in_name() {
    let rt = both_connected();
    rt.http().get_json_once(USERINFO_URL, userinfo());
    rt.http().get_json_once(
        GRAPH_ME_URL,
        json!({ "id": "u-2", "displayName": "Room 12", "mail": null,
                "userPrincipalName": "room12@contoso.example" }),
    );

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        section(&res.json(), "microsoft")["email"],
        "room12@contoso.example"
    );
}

#[test]
fn a_success_that_is_not_a_profile_is_a_provider_error_for_that_provider() {
    let rt = both_connected();
    rt.http().respond_once(
        "GET",
        USERINFO_URL,
        MockResponse::status(200).body("<html>sign in</html>"),
    );
    rt.http().get_json_once(GRAPH_ME_URL, graph_me());

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    let google = section(&body, "google");
    assert_eq!(google["ok"], false);
    assert_eq!(google["error"]["code"], "provider_error");
    assert_eq!(google["error"]["status"], 502);
    assert!(
        google["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not the expected JSON"),
        "{google}"
    );
    assert_eq!(body["name"], "Adele Vance");
    assert_eq!(body["failed"], json!(["google"]));
}
