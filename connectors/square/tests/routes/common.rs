//! Shared fixtures: a runtime for a seeded grant, Square's URLs and canned answers.

use keyway_testing::{MockResponse, OAuthState, TestRuntime};
use serde_json::{Value, json};

pub const MERCHANT_URL: &str = "https://connect.squareup.com/v2/merchants/me";
pub const MAIN_LOCATION_URL: &str = "https://connect.squareup.com/v2/locations/L1";
pub const LOCATIONS_URL: &str = "https://connect.squareup.com/v2/locations";
pub const PAYMENTS_URL: &str = "https://connect.squareup.com/v2/payments?sort_order=ASC&limit=100";
pub const SEARCH_URL: &str = "https://connect.squareup.com/v2/orders/search";

/// The `Square-Version` every call must carry.
pub const SQUARE_VERSION: &str = "2026-01-22";

pub fn runtime(oauth: OAuthState) -> TestRuntime {
    TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .connection("acme-square")
        .oauth(oauth)
        .build()
        .unwrap()
}

pub fn connected() -> TestRuntime {
    runtime(OAuthState::connected("sq-access-token-1"))
}

pub fn payments_page_url(cursor: &str) -> String {
    format!("{PAYMENTS_URL}&cursor={cursor}")
}

pub fn merchant() -> Value {
    json!({
        "merchant": {
            "id": "MLQW2Z5Y3K9A1",
            "business_name": "Acme Coffee",
            "country": "US",
            "language_code": "en-US",
            "currency": "USD",
            "status": "ACTIVE",
            "main_location_id": "L1"
        }
    })
}

pub fn main_location() -> Value {
    json!({
        "location": {
            "id": "L1",
            "name": "Acme Coffee Downtown",
            "website_url": "https://www.Acme-Coffee.example/visit"
        }
    })
}

/// A Square error body, as Square sends it.
pub fn square_error(category: &str, code: &str) -> Value {
    json!({ "errors": [{ "category": category, "code": code, "detail": "request detail" }] })
}

pub fn unauthorized() -> MockResponse {
    MockResponse::json(401, square_error("AUTHENTICATION_ERROR", "UNAUTHORIZED"))
}

pub fn payment(id: &str, amount: i64, updated_at: &str) -> Value {
    json!({
        "id": id,
        "status": "COMPLETED",
        "source_type": "CARD",
        "amount_money": { "amount": amount, "currency": "USD" },
        "total_money": { "amount": amount, "currency": "USD" },
        "location_id": "L1",
        "order_id": format!("ORD-{id}"),
        "receipt_number": &id[..4.min(id.len())],
        "card_details": { "card": { "card_brand": "VISA", "last_4": "4242" } },
        "created_at": "2026-03-01T10:00:00.000Z",
        "updated_at": updated_at
    })
}

pub fn order(id: &str, version: i64, location: &str) -> Value {
    json!({
        "id": id,
        "version": version,
        "location_id": location,
        "state": "COMPLETED",
        "total_money": { "amount": 1500, "currency": "USD" },
        "total_tax_money": { "amount": 100, "currency": "USD" },
        "line_items": [
            { "name": "Latte", "quantity": "2", "total_money": { "amount": 1400, "currency": "USD" } }
        ],
        "created_at": "2026-03-01T10:00:00.000Z",
        "updated_at": "2026-03-01T10:05:00.000Z"
    })
}

/// Queues the two pages of payments the sync tests use: two payments and a cursor,
/// then one payment and no cursor.
pub fn queue_two_payment_pages(rt: &TestRuntime) {
    rt.http().get_json_once(
        PAYMENTS_URL,
        json!({
            "payments": [
                payment("PAY1", 1250, "2026-03-01T10:01:00.000Z"),
                payment("PAY2", 800, "2026-03-01T11:01:00.000Z")
            ],
            "cursor": "c/2+x"
        }),
    );
    rt.http().get_json_once(
        &payments_page_url("c%2F2%2Bx"),
        json!({ "payments": [payment("PAY3", 99, "2026-03-02T09:00:00.000Z")] }),
    );
}
