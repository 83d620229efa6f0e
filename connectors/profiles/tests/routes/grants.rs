//! What the manifest grants is all a route gets: an app connection the operator defined
//! under another name is not handed to it, the read grant and the inject grant stay
//! apart, and a name the host's rule refuses fails the runtime's build.

use crate::common::*;
use keyway_testing::{Error, OAuthState};
use std::collections::BTreeSet;

#[test]
fn an_app_connection_the_manifest_does_not_grant_never_reaches_the_route() {
    // The operator defined `google-oauth-prod`; the manifest grants `google-oauth`.
    let rt = builder()
        .with_app_connection("google-oauth-prod", google())
        .with_app_connection(MICROSOFT, microsoft())
        .build()
        .unwrap();
    rt.http().get_json_once(GRAPH_ME_URL, graph_me());

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    let error = &section(&res.json(), "google")["error"];
    assert_eq!(error["code"], "not_found", "{error}");
    let handed: Vec<&String> = rt.context().app_tokens.keys().collect();
    assert_eq!(handed, vec![MICROSOFT]);
    // Only Graph was called, and not with the ungranted connection's token.
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].url, GRAPH_ME_URL);
}

#[test]
fn the_read_grant_and_the_inject_grant_stay_apart() {
    let rt = both_connected();
    let grants = &rt.context().grants;
    assert_eq!(grants.readable_apps, BTreeSet::from([GOOGLE.to_string()]));
    assert_eq!(
        grants.injectable_apps,
        BTreeSet::from([MICROSOFT.to_string()])
    );
}

#[test]
fn a_name_the_host_refuses_fails_the_build_naming_the_rule() {
    let err = builder()
        .with_app_connection("Google_OAuth", OAuthState::connected(GOOGLE_TOKEN))
        .build()
        .unwrap_err();
    let Error::Setup(message) = err else {
        panic!("expected a setup error, got {err}");
    };
    assert!(message.contains("\"Google_OAuth\""), "{message}");
    assert!(
        message.contains("lowercase letters, digits and hyphens"),
        "{message}"
    );
    assert!(!message.contains(GOOGLE_TOKEN));
}
