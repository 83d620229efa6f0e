//! The `tenant` setting lands in the identity endpoints' path, so the manifest admits
//! only a GUID, `common`, `organizations`, `consumers` or a domain name.

use keyway_testing::{OAuthState, TestRuntime};

use crate::support::ACCESS_TOKEN;

fn build(tenant: &str) -> Result<TestRuntime, keyway_testing::Error> {
    TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .setting("tenant", tenant)
        .oauth(OAuthState::connected(ACCESS_TOKEN))
        .build()
}

#[test]
fn accepts_the_tenant_forms_microsoft_documents() {
    for tenant in [
        "common",
        "organizations",
        "consumers",
        "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "72F988BF-86F1-41AF-91AB-2D7CD011DB47",
        "contoso.onmicrosoft.com",
        "contoso.com",
    ] {
        assert!(build(tenant).is_ok(), "{tenant} should be accepted");
    }
}

#[test]
fn refuses_values_that_would_change_the_endpoint() {
    for tenant in [
        "",
        "../../evil.example/oauth2/v2.0/token",
        "contoso.com/oauth2",
        "contoso.com?x=1",
        "contoso.com#frag",
        "user@evil.example",
        "evil.example:443",
        "%2e%2e",
        "..",
        "common ",
        "common\n",
        "contoso..com",
        "-contoso.com",
        "localhost",
        "72f988bf-86f1-41af-91ab",
    ] {
        assert!(build(tenant).is_err(), "{tenant:?} should be refused");
    }
}

#[test]
fn the_tenant_is_required() {
    let built = TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .oauth(OAuthState::connected(ACCESS_TOKEN))
        .build();
    assert!(built.is_err());
}
