//! `POST /setup/test_connection` on a connected company.

use crate::support::*;

#[test]
fn connected_company_answers_its_account() {
    let rt = connected();
    rt.http().get_json_once(COMPANY_INFO, company_info());
    let res = rt
        .call("POST", "/setup/test_connection", serde_json::json!({}))
        .unwrap();
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    assert_eq!(body["providerAccountId"], REALM);
    assert_eq!(body["providerAccountName"], "Larry's Bakery");
    assert_eq!(body["providerAccountDomain"], "larrysbakery.example");
    assert_eq!(body["legalName"], "Larry's Bakery LLC");
    assert_eq!(body["environment"], "production");

    let calls = rt.http().calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "GET");
    assert_eq!(calls[0].url, COMPANY_INFO);
    assert_eq!(
        authorization(&calls[0]).as_deref(),
        Some(&*format!("Bearer {ACCESS_TOKEN}"))
    );
    rt.http().assert_all_used();
}

#[test]
fn sandbox_environment_uses_the_sandbox_host() {
    let rt = keyway_testing::TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .setting("realmId", REALM)
        .setting("environment", "sandbox")
        .oauth(keyway_testing::OAuthState::connected(ACCESS_TOKEN))
        .build()
        .unwrap();
    rt.http().get_json_once(
        &COMPANY_INFO.replace("https://quickbooks.", "https://sandbox-quickbooks."),
        company_info(),
    );
    let res = rt
        .call("POST", "/setup/test_connection", serde_json::json!({}))
        .unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["environment"], "sandbox");
    rt.http().assert_all_used();
}

#[test]
fn a_connection_without_a_realm_id_must_be_authorized_again() {
    let rt = keyway_testing::TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .oauth(keyway_testing::OAuthState::connected(ACCESS_TOKEN))
        .build()
        .unwrap();
    let res = rt
        .call("POST", "/setup/test_connection", serde_json::json!({}))
        .unwrap();
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["error"]["code"], "reauth_required");
    assert!(rt.http().calls().is_empty());
}

#[test]
fn a_realm_id_that_is_not_a_number_is_refused_by_the_manifest() {
    let built = keyway_testing::TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .setting("realmId", "1/../../v3/company/2")
        .oauth(keyway_testing::OAuthState::connected(ACCESS_TOKEN))
        .build();
    assert!(built.is_err());
}
