//! `POST /setup/test_connection` on a connected mailbox.

use serde_json::json;

use crate::support::*;

#[test]
fn connected_account_answers_its_identity() {
    let rt = connected();
    rt.http().get_json_once(ME, me());
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    assert_eq!(
        body["providerAccountId"],
        "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
    );
    assert_eq!(body["providerAccountName"], "Adele Vance");
    assert_eq!(body["providerAccountDomain"], "contoso.com");
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].url, ME);
    assert_eq!(
        authorization(&calls[0]).as_deref(),
        Some(&*format!("Bearer {ACCESS_TOKEN}"))
    );
}

#[test]
fn a_guest_principal_name_falls_back_to_the_mail_domain() {
    let rt = connected();
    rt.http().get_json_once(
        ME,
        json!({ "id": "x1", "displayName": "Guest", "userPrincipalName": "guest_fabrikam.com#EXT#@contoso.onmicrosoft.com", "mail": "guest@Fabrikam.com" }),
    );
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["providerAccountDomain"], "fabrikam.com");
}

#[test]
fn an_answer_without_an_id_is_an_error() {
    let rt = connected();
    rt.http()
        .get_json_once(ME, json!({ "displayName": "Nobody" }));
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["error"]["code"], "invalid_input");
}
