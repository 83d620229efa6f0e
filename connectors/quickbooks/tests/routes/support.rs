//! Shared fixtures: the seeded connection, canary secrets and Intuit answers.

use keyway_testing::{OAuthState, TestRuntime};
use serde_json::{Value, json};

pub const REALM: &str = "9130357992261406";
pub const ACCESS_TOKEN: &str = "canary-qb-access-5f0c1e";
pub const REFRESHED_TOKEN: &str = "canary-qb-refreshed-a91d77";

pub const COMPANY_INFO: &str = "https://quickbooks.api.intuit.com/v3/company/9130357992261406/companyinfo/9130357992261406?minorversion=75";
pub const QUERY: &str = "https://quickbooks.api.intuit.com/v3/company/9130357992261406/query?*";

/// A runtime for a production company with `oauth`.
pub fn runtime(oauth: OAuthState) -> TestRuntime {
    TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .setting("realmId", REALM)
        .connection("bakery")
        .oauth(oauth)
        .build()
        .unwrap()
}

/// A connected runtime whose token is the access canary.
pub fn connected() -> TestRuntime {
    runtime(OAuthState::connected(ACCESS_TOKEN))
}

pub fn company_info() -> Value {
    json!({
        "CompanyInfo": {
            "CompanyName": "Larry's Bakery",
            "LegalName": "Larry's Bakery LLC",
            "Country": "US",
            "Id": "1",
            "domain": "QBO",
            "WebAddr": { "URI": "https://www.larrysbakery.example" },
            "Email": { "Address": "owner@larrysbakery.example" }
        },
        "time": "2026-11-23T12:00:00.000-08:00"
    })
}

pub fn invoice(id: u32) -> Value {
    json!({
        "Id": id.to_string(),
        "SyncToken": "0",
        "DocNumber": format!("10{id}"),
        "TxnDate": "2026-11-01",
        "DueDate": "2026-12-01",
        "TotalAmt": 100.5,
        "Balance": 100.5,
        "CustomerRef": { "value": "3", "name": "Cool Cars" },
        "CurrencyRef": { "value": "USD", "name": "United States Dollar" },
        "MetaData": { "CreateTime": "2026-11-01T09:00:00-08:00", "LastUpdatedTime": "2026-11-02T09:00:00-08:00" },
        "Line": [{
            "LineNum": 1, "Amount": 100.5, "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": { "ItemRef": { "value": "5", "name": "Bread" }, "Qty": 1, "UnitPrice": 100.5 }
        }]
    })
}

/// One query page holding invoices `ids`, the first at `start`.
pub fn invoice_page(start: u32, ids: &[u32]) -> Value {
    let invoices: Vec<Value> = ids.iter().map(|&id| invoice(id)).collect();
    let mut page = json!({ "startPosition": start, "maxResults": invoices.len() });
    if !invoices.is_empty() {
        page["Invoice"] = Value::Array(invoices);
    }
    json!({ "QueryResponse": page, "time": "2026-11-23T12:00:00.000-08:00" })
}

/// The `authorization` header the host sent on a recorded call.
pub fn authorization(call: &keyway_testing::HttpCall) -> Option<String> {
    call.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_string())
}
