//! Shared fixtures: the runtime with both app connections seeded (canary tokens), the
//! providers' URLs, canned profiles and error bodies.

use keyway_testing::{MockResponse, OAuthState, TestRuntime, TestRuntimeBuilder};
use serde_json::{Value, json};

pub const GOOGLE: &str = "google-oauth";
pub const MICROSOFT: &str = "ms365-oauth";

pub const USERINFO_URL: &str = "https://openidconnect.googleapis.com/v1/userinfo";
pub const GRAPH_ME_URL: &str = "https://graph.microsoft.com/v1.0/me";

pub const GOOGLE_TOKEN: &str = "canary-google-app-token-6d1f0a";
pub const MICROSOFT_TOKEN: &str = "canary-ms365-app-token-b37e52";
pub const MICROSOFT_REFRESHED: &str = "canary-ms365-app-refreshed-48c9d3";

pub fn builder() -> TestRuntimeBuilder {
    TestRuntime::builder(env!("CARGO_MANIFEST_DIR")).connection("whoami")
}

pub fn google() -> OAuthState {
    OAuthState::connected(GOOGLE_TOKEN).scopes(["openid", "email", "profile"])
}

pub fn microsoft() -> OAuthState {
    OAuthState::connected(MICROSOFT_TOKEN).scopes(["User.Read"])
}

pub fn runtime(google: OAuthState, microsoft: OAuthState) -> TestRuntime {
    builder()
        .with_app_connection(GOOGLE, google)
        .with_app_connection(MICROSOFT, microsoft)
        .build()
        .unwrap()
}

pub fn both_connected() -> TestRuntime {
    runtime(google(), microsoft())
}

pub fn whoami(rt: &TestRuntime) -> keyway_testing::RouteResult {
    rt.call("GET", "/whoami", Value::Null).unwrap()
}

pub fn userinfo() -> Value {
    json!({
        "sub": "110248495921238986420",
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "email": "ada@acme.example",
        "email_verified": true,
        "picture": "https://lh3.googleusercontent.com/a/photo"
    })
}

pub fn graph_me() -> Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
        "displayName": "Adele Vance",
        "userPrincipalName": "AdeleV@contoso.example",
        "mail": "AdeleV@contoso.example",
        "jobTitle": "Retail Manager"
    })
}

/// Queues both profiles.
pub fn queue_both(rt: &TestRuntime) {
    rt.http().get_json_once(USERINFO_URL, userinfo());
    rt.http().get_json_once(GRAPH_ME_URL, graph_me());
}

/// Google userinfo's answer to a token it does not accept.
pub fn google_unauthorized() -> MockResponse {
    MockResponse::json(
        401,
        json!({ "error": "invalid_request", "error_description": "Invalid Credentials" }),
    )
    .header(
        "WWW-Authenticate",
        "Bearer realm=\"https://accounts.google.com/\"",
    )
}

/// A Microsoft Graph error answer.
pub fn graph_error(status: u16, code: &str) -> MockResponse {
    MockResponse::json(
        status,
        json!({ "error": { "code": code, "message": "request detail",
                           "innerError": { "request-id": "r-1" } } }),
    )
}

/// The section of the merged answer for `provider` (`google`, `microsoft`).
pub fn section(body: &Value, provider: &str) -> Value {
    body["profiles"][provider].clone()
}
