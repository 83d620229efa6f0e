//! One provider or connection failing: a missing app connection is `not_found` and the
//! other still answers; a provider's 401, 403, 429 and 5xx become the codes every
//! example connector gives them; when neither answers the route fails with their shared
//! code.

use crate::common::*;
use keyway_testing::{MockResponse, OAuthState, RefreshOutcome};
use serde_json::json;

#[test]
fn a_connection_the_host_does_not_define_is_not_found_and_the_other_still_answers() {
    let rt = builder()
        .with_app_connection(GOOGLE, google())
        .build()
        .unwrap();
    rt.http().get_json_once(USERINFO_URL, userinfo());

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["name"], "Ada Lovelace");
    assert_eq!(body["complete"], false);
    assert_eq!(body["failed"], json!(["microsoft"]));
    let error = &section(&body, "microsoft")["error"];
    assert_eq!(error["code"], "not_found", "{error}");
    assert_eq!(error["status"], 404);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("keyway app-connections create ms365-oauth"),
        "{error}"
    );
    // Graph was never called: the host refused before the request left.
    assert_eq!(rt.http().calls().len(), 1);
    rt.http().assert_all_used();
}

#[test]
fn neither_connection_defined_fails_the_route_with_not_found() {
    let rt = builder().build().unwrap();

    let res = whoami(&rt);

    assert_eq!(res.status, 404, "{}", res.text());
    let body = res.json();
    assert_eq!(body["error"]["code"], "not_found");
    let profiles = &body["error"]["details"]["profiles"];
    assert_eq!(profiles["google"]["error"]["code"], "not_found");
    assert_eq!(profiles["microsoft"]["error"]["code"], "not_found");
    assert!(rt.http().calls().is_empty());
}

#[test]
fn an_app_connection_never_authorized_needs_reauthorization() {
    let rt = runtime(OAuthState::none(), microsoft());
    rt.http().get_json_once(GRAPH_ME_URL, graph_me());

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    let error = &section(&res.json(), "google")["error"];
    assert_eq!(error["code"], "reauth_required", "{error}");
    assert_eq!(error["status"], 401);
}

#[test]
fn google_rejecting_the_read_token_is_reauth_required() {
    let rt = both_connected();
    rt.http()
        .respond_once("GET", USERINFO_URL, google_unauthorized());
    rt.http().get_json_once(GRAPH_ME_URL, graph_me());

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    let error = &section(&res.json(), "google")["error"];
    assert_eq!(error["code"], "reauth_required", "{error}");
    assert_eq!(error["status"], 401);
    assert!(
        error["message"].as_str().unwrap().contains("Google"),
        "{error}"
    );
}

#[test]
fn graph_401_is_refreshed_once_by_the_host_then_reauth_required() {
    let rt = runtime(
        google(),
        microsoft().refresh(RefreshOutcome::success(MICROSOFT_REFRESHED, 3599)),
    );
    rt.http().get_json_once(USERINFO_URL, userinfo());
    rt.http().respond_once(
        "GET",
        GRAPH_ME_URL,
        graph_error(401, "InvalidAuthenticationToken"),
    );
    rt.http().respond_once(
        "GET",
        GRAPH_ME_URL,
        graph_error(401, "InvalidAuthenticationToken"),
    );

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    let error = &section(&res.json(), "microsoft")["error"];
    assert_eq!(error["code"], "reauth_required", "{error}");
    assert_eq!(rt.app_token_requests(MICROSOFT), 1);
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[2].header("authorization"),
        Some(format!("Bearer {MICROSOFT_REFRESHED}").as_str())
    );
}

#[test]
fn graph_401_answered_by_a_refresh_succeeds() {
    let rt = runtime(
        google(),
        microsoft().refresh(RefreshOutcome::success(MICROSOFT_REFRESHED, 3599)),
    );
    rt.http().get_json_once(USERINFO_URL, userinfo());
    rt.http().respond_once(
        "GET",
        GRAPH_ME_URL,
        graph_error(401, "InvalidAuthenticationToken"),
    );
    rt.http().get_json_once(GRAPH_ME_URL, graph_me());

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["complete"], true);
    assert_eq!(rt.app_token_requests(MICROSOFT), 1);
}

#[test]
fn a_revoked_ms365_grant_is_reauth_required() {
    let rt = runtime(
        google(),
        microsoft().refresh(RefreshOutcome::invalid_grant()),
    );
    rt.http().get_json_once(USERINFO_URL, userinfo());
    rt.http().respond_once(
        "GET",
        GRAPH_ME_URL,
        graph_error(401, "InvalidAuthenticationToken"),
    );

    let res = whoami(&rt);

    let error = &section(&res.json(), "microsoft")["error"];
    assert_eq!(error["code"], "reauth_required", "{error}");
    assert_eq!(rt.http().calls().len(), 2, "no retry without a new token");
}

#[test]
fn both_rejected_fails_the_route_with_reauth_required() {
    let rt = runtime(google(), microsoft().refresh_allowed(false));
    rt.http()
        .respond_once("GET", USERINFO_URL, google_unauthorized());
    rt.http().respond_once(
        "GET",
        GRAPH_ME_URL,
        graph_error(401, "InvalidAuthenticationToken"),
    );

    let res = whoami(&rt);

    assert_eq!(res.status, 401, "{}", res.text());
    let body = res.json();
    assert_eq!(body["error"]["code"], "reauth_required");
    assert_eq!(
        body["error"]["details"]["profiles"]["microsoft"]["connection"],
        "ms365-oauth"
    );
}

#[test]
fn a_scope_refusal_is_missing_scopes() {
    let rt = both_connected();
    rt.http().respond_once(
        "GET",
        USERINFO_URL,
        MockResponse::status(403).header("WWW-Authenticate", "Bearer error=\"insufficient_scope\""),
    );
    rt.http().respond_once(
        "GET",
        GRAPH_ME_URL,
        graph_error(403, "Authorization_RequestDenied"),
    );

    let res = whoami(&rt);

    assert_eq!(res.status, 403, "{}", res.text());
    let profiles = &res.json()["error"]["details"]["profiles"];
    assert_eq!(profiles["google"]["error"]["code"], "missing_scopes");
    assert_eq!(profiles["microsoft"]["error"]["code"], "missing_scopes");
}

#[test]
fn graph_throttling_passes_the_retry_hint_on() {
    let rt = both_connected();
    rt.http().get_json_once(USERINFO_URL, userinfo());
    rt.http().respond_once(
        "GET",
        GRAPH_ME_URL,
        graph_error(429, "TooManyRequests").header("Retry-After", "30"),
    );

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    let error = &section(&res.json(), "microsoft")["error"];
    assert_eq!(error["code"], "provider_error", "{error}");
    assert_eq!(error["status"], 502);
    assert!(
        error["message"].as_str().unwrap().contains("rate limiting"),
        "{error}"
    );
    assert_eq!(error["details"]["retryAfterSeconds"], 30);
    assert_eq!(
        error["details"]["providerCodes"],
        json!(["TooManyRequests"])
    );
}

#[test]
fn provider_outages_are_provider_errors_with_their_status() {
    let rt = both_connected();
    rt.http()
        .respond_once("GET", USERINFO_URL, MockResponse::status(500));
    rt.http()
        .respond_once("GET", GRAPH_ME_URL, graph_error(503, "serviceNotAvailable"));

    let res = whoami(&rt);

    assert_eq!(res.status, 502, "{}", res.text());
    let body = res.json();
    assert_eq!(body["error"]["code"], "provider_error");
    let profiles = &body["error"]["details"]["profiles"];
    assert_eq!(
        profiles["google"]["error"]["details"]["providerStatus"],
        500
    );
    assert_eq!(
        profiles["microsoft"]["error"]["details"]["providerStatus"],
        503
    );
}

#[test]
fn a_provider_timeout_is_kept_as_the_hosts_timeout() {
    let rt = both_connected();
    rt.http()
        .respond_once("GET", USERINFO_URL, MockResponse::timeout());
    rt.http().get_json_once(GRAPH_ME_URL, graph_me());

    let res = whoami(&rt);

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(section(&res.json(), "google")["error"]["code"], "timeout");
}
