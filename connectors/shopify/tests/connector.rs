//! The Shopify connector against a mock Shopify, through the real host: the release
//! checklist's cases (connected, missing token, missing scope, provider auth failure,
//! refresh failure), rate limiting, multi-page sync with an idempotent re-run, and canary
//! values that must never reach a log line.

use keyway_testing::{MockResponse, OAuthState, RefreshOutcome, RouteResult, TestRuntime};
use serde_json::{Value, json};

const SHOP: &str = "acme.myshopify.com";
const GRAPHQL: &str = "https://acme.myshopify.com/admin/api/*/graphql.json";
const CANARY_TOKEN: &str = "shpat_canary_0d9e8f7a6b5c";

fn runtime(oauth: OAuthState) -> TestRuntime {
    TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .setting("shop_domain", SHOP)
        .connection("acme")
        .oauth(oauth)
        .build()
        .unwrap()
}

fn connected() -> TestRuntime {
    runtime(OAuthState::connected(CANARY_TOKEN).refresh_allowed(false))
}

fn error_code(res: &RouteResult) -> String {
    res.json()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn shop_answer() -> Value {
    json!({ "data": { "shop": {
        "id": "gid://shopify/Shop/548380009",
        "name": "Acme Outfitters",
        "myshopifyDomain": "acme.myshopify.com"
    } } })
}

fn order(n: u32) -> Value {
    json!({
        "id": format!("gid://shopify/Order/{n}"),
        "name": format!("#{n}"),
        "email": format!("buyer{n}@example.com"),
        "createdAt": "2026-01-02T03:04:05Z",
        "updatedAt": "2026-01-02T03:04:05Z",
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": "UNFULFILLED",
        "currencyCode": "USD",
        "totalPriceSet": { "shopMoney": { "amount": "19.90", "currencyCode": "USD" } },
        "customer": { "id": "gid://shopify/Customer/7" }
    })
}

fn orders_page(nodes: Vec<Value>, next: Option<&str>) -> Value {
    json!({ "data": { "orders": {
        "nodes": nodes,
        "pageInfo": { "hasNextPage": next.is_some(), "endCursor": next }
    } } })
}

#[test]
fn connected_test_connection_answers_the_provider_account() {
    let rt = connected();
    rt.http().post_json_once(GRAPHQL, shop_answer());
    let res = rt.test_connection().unwrap();
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json(),
        json!({
            "providerAccountId": "gid://shopify/Shop/548380009",
            "providerAccountName": "Acme Outfitters",
            "providerAccountDomain": "acme.myshopify.com"
        })
    );
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(
        calls[0].url,
        "https://acme.myshopify.com/admin/api/2025-07/graphql.json"
    );
    // The host injected the token, bare, into Shopify's header; no Authorization header.
    assert_eq!(
        calls[0].header("x-shopify-access-token"),
        Some(CANARY_TOKEN)
    );
    assert_eq!(calls[0].header("authorization"), None);
    assert!(
        calls[0].json()["query"]
            .as_str()
            .unwrap()
            .contains("myshopifyDomain")
    );
    rt.http().assert_all_used();
}

#[test]
fn shop_domain_must_pass_host_validation() {
    let err = TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .setting("shop_domain", "evil.example.com")
        .oauth(OAuthState::connected(CANARY_TOKEN))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("shop_domain"), "{err}");
}

#[test]
fn missing_token_is_reauth_required_without_a_request() {
    let rt = runtime(OAuthState::none());
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(error_code(&res), "reauth_required");
    assert!(rt.http().calls().is_empty());
}

#[test]
fn missing_scope_is_reported_before_a_request() {
    let rt = runtime(
        OAuthState::connected(CANARY_TOKEN)
            .scopes(["read_orders"])
            .refresh_allowed(false),
    );
    let res = rt.call("POST", "/sync/customers", json!({})).unwrap();
    assert_eq!(res.status, 403, "{}", res.text());
    assert_eq!(error_code(&res), "missing_scopes");
    assert!(res.text().contains("read_customers"), "{}", res.text());
    assert!(rt.http().calls().is_empty());
}

#[test]
fn provider_auth_failure_is_reauth_required_since_shopify_has_no_refresh() {
    let rt = connected();
    rt.http().respond_once(
        "POST",
        GRAPHQL,
        MockResponse::json(
            401,
            json!({ "errors": "[API] Invalid API key or access token" }),
        ),
    );
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(error_code(&res), "reauth_required");
    assert_eq!(rt.token_requests(), 0, "no refresh token, so no refresh");
    assert_eq!(rt.http().calls().len(), 1, "no retry without a new token");
    rt.http().assert_all_used();
}

#[test]
fn refresh_failure_case_a_401_yields_reauth_and_no_seeded_refresh_is_used() {
    // invalid_grant belongs to connectors that refresh; Shopify's offline tokens have no
    // refresh token, so even a seeded refresh outcome must stay unused.
    let rt = runtime(
        OAuthState::connected(CANARY_TOKEN)
            .refresh(RefreshOutcome::invalid_grant())
            .refresh_allowed(false),
    );
    rt.http()
        .respond_once("POST", GRAPHQL, MockResponse::status(401));
    let res = rt.call("POST", "/sync/orders", json!({})).unwrap();
    assert_eq!(error_code(&res), "reauth_required", "{}", res.text());
    assert_eq!(rt.token_requests(), 0);
    assert_eq!(rt.unused_refresh_outcomes(), 1);
    // The connection stays in reauth: the next call makes no request at all.
    let again = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(error_code(&again), "reauth_required");
    assert_eq!(rt.http().calls().len(), 1);
}

#[test]
fn manifest_disables_refresh_even_when_a_refresh_token_is_seeded() {
    let rt = runtime(
        OAuthState::connected(CANARY_TOKEN).refresh(RefreshOutcome::success("other", 3600)),
    );
    rt.http()
        .respond_once("POST", GRAPHQL, MockResponse::status(401));
    let res = rt
        .call("POST", "/setup/test_connection", json!({}))
        .unwrap();
    assert_eq!(error_code(&res), "reauth_required", "{}", res.text());
    assert_eq!(rt.token_requests(), 0);
}

#[test]
fn rate_limit_is_a_provider_error_with_the_retry_hint() {
    let rt = connected();
    rt.http().respond_once(
        "POST",
        GRAPHQL,
        MockResponse::json(429, json!({ "errors": "Exceeded 2 calls per second" }))
            .header("Retry-After", "2.0"),
    );
    let res = rt.call("POST", "/sync/orders", json!({})).unwrap();
    assert_eq!(res.status, 502, "{}", res.text());
    let body = res.json();
    assert_eq!(body["error"]["code"], "provider_error");
    assert_eq!(body["error"]["details"]["providerStatus"], 429);
    assert_eq!(body["error"]["details"]["retryAfterSeconds"], 2);
    assert_eq!(res.header("retry-after"), Some("2"));
    assert!(rt.ingest().calls().is_empty());
}

#[test]
fn graphql_throttling_is_a_rate_limit_too() {
    let rt = connected();
    rt.http().post_json_once(
        GRAPHQL,
        json!({ "errors": [{ "message": "Throttled", "extensions": { "code": "THROTTLED" } }] }),
    );
    let res = rt.call("POST", "/sync/customers", json!({})).unwrap();
    assert_eq!(res.status, 502, "{}", res.text());
    assert_eq!(res.json()["error"]["details"]["providerStatus"], 429);
}

#[test]
fn orders_sync_pages_through_and_a_rerun_imports_nothing_new() {
    let rt = connected();
    let queue_pages = |rt: &TestRuntime| {
        rt.http()
            .post_json_once(
                GRAPHQL,
                orders_page(vec![order(1), order(2)], Some("cur-1")),
            )
            .post_json_once(
                GRAPHQL,
                orders_page(vec![order(3), order(4)], Some("cur-2")),
            )
            .post_json_once(GRAPHQL, orders_page(vec![order(5)], None));
    };
    queue_pages(&rt);
    let res = rt
        .call("POST", "/sync/orders", json!({ "pageSize": 2 }))
        .unwrap();
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json(),
        json!({ "stream": "orders", "pages": 3, "imported": 5, "duplicates": 0, "nextCursor": null })
    );
    let calls = rt.http().calls();
    assert_eq!(calls.len(), 3);
    let vars: Vec<Value> = calls
        .iter()
        .map(|c| c.json()["variables"].clone())
        .collect();
    assert_eq!(vars[0], json!({ "first": 2, "after": null }));
    assert_eq!(vars[1], json!({ "first": 2, "after": "cur-1" }));
    assert_eq!(vars[2], json!({ "first": 2, "after": "cur-2" }));
    let records = rt.ingest().records_of("Order");
    assert_eq!(records.len(), 5);
    assert_eq!(records[0].key, "gid://shopify/Order/1");
    assert_eq!(records[0].stream.as_deref(), Some("orders"));
    assert_eq!(
        records[0].payload["total"],
        json!({ "amount": "19.90", "currency": "USD" })
    );
    assert_eq!(records[0].payload["customerId"], "gid://shopify/Customer/7");
    let keys: Vec<String> = rt
        .ingest()
        .calls()
        .iter()
        .flat_map(|c| c.keys.clone())
        .collect();
    assert_eq!(keys.len(), 5);
    assert!(keys.iter().all(|k| k.starts_with("gid://shopify/Order/")));

    queue_pages(&rt);
    let rerun = rt
        .call("POST", "/sync/orders", json!({ "pageSize": 2 }))
        .unwrap();
    assert_eq!(rerun.json()["imported"], 0, "{}", rerun.text());
    assert_eq!(rerun.json()["duplicates"], 5);
    assert_eq!(rt.ingest().records().len(), 5);
    rt.http().assert_all_used();
}

#[test]
fn customers_sync_resumes_from_a_cursor() {
    let rt = connected();
    rt.http().post_json_once(
        GRAPHQL,
        json!({ "data": { "customers": {
            "nodes": [{
                "id": "gid://shopify/Customer/7", "displayName": "Ada Lovelace",
                "firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com",
                "phone": null, "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"
            }],
            "pageInfo": { "hasNextPage": false, "endCursor": "cur-9" }
        } } }),
    );
    let res = rt
        .call("POST", "/sync/customers", json!({ "cursor": "cur-8" }))
        .unwrap();
    assert_eq!(res.json()["imported"], 1, "{}", res.text());
    assert_eq!(
        rt.http().calls()[0].json()["variables"],
        json!({ "first": 100, "after": "cur-8" })
    );
    let records = rt.ingest().records_of("Customer");
    assert_eq!(records[0].payload["displayName"], "Ada Lovelace");
    assert_eq!(records[0].key, "gid://shopify/Customer/7");
}

#[test]
fn no_token_in_any_log_line_or_answer() {
    let rt = connected();
    rt.http()
        .post_json_once(GRAPHQL, orders_page(vec![order(1)], Some("c1")))
        .respond_once("POST", GRAPHQL, MockResponse::status(401));
    let res = rt.call("POST", "/sync/orders", json!({})).unwrap();
    assert_eq!(error_code(&res), "reauth_required", "{}", res.text());
    assert!(!res.text().contains(CANARY_TOKEN));
    let rt2 = connected();
    rt2.http()
        .post_json_once(GRAPHQL, orders_page(vec![order(9)], None));
    let ok = rt2.call("POST", "/sync/orders", json!({})).unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text());
    for rt in [&rt, &rt2] {
        let logs = rt.logs();
        assert!(
            logs.iter().any(|l| l.contains("invocation finished")),
            "log capture is working: {logs:#?}"
        );
        for line in &logs {
            assert!(!line.contains(CANARY_TOKEN), "token in a log line: {line}");
        }
    }
    assert!(rt2.logs().iter().any(|l| l.contains("sync finished")));
}
