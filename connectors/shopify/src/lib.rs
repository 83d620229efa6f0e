//! `shopify`: a source connector for a Shopify store. `POST /setup/test_connection`
//! reads the shop (also the `postConnect` step, which stores the provider account);
//! `POST /sync/orders` and `POST /sync/customers` page through the GraphQL Admin API with
//! `first`/`after` cursors and ingest canonical records keyed by their Shopify GID, so a
//! re-run stores nothing twice. The offline access token stays with the host, which
//! injects it into `X-Shopify-Access-Token`; Shopify issues no refresh token, so a
//! rejected token means the shop must be connected again.

mod graphql;
mod records;

use keyway_sdk::ingest::{self, BatchOptions};
use keyway_sdk::{Request, Response, api, routes};
use records::Stream;
use serde_json::{Value, json};

/// Largest page the Admin API serves.
const MAX_PAGE_SIZE: u64 = 250;
const DEFAULT_PAGE_SIZE: u64 = 100;
/// Pages one call reads before it answers with `nextCursor` to resume from.
const MAX_PAGES_PER_CALL: u32 = 50;

const SHOP_QUERY: &str = "query Shop { shop { id name myshopifyDomain } }";

/// Checks the token by reading the shop; answers the provider account.
fn test_connection(_req: Request) -> Response {
    let data = match graphql::query(SHOP_QUERY, json!({})) {
        Ok(data) => data,
        Err(res) => return res,
    };
    let shop = &data["shop"];
    if !shop["id"].is_string() {
        return api::provider_error("Shopify answered without the shop's id", 200);
    }
    api::json(&json!({
        "providerAccountId": shop["id"],
        "providerAccountName": shop["name"],
        "providerAccountDomain": shop["myshopifyDomain"],
    }))
}

fn sync_orders(req: Request) -> Response {
    sync(&req, &records::ORDERS)
}

fn sync_customers(req: Request) -> Response {
    sync(&req, &records::CUSTOMERS)
}

/// Pages through `stream` from the body's `cursor` (or the start), ingesting each page.
/// Body (optional): `{"pageSize": 1..=250, "cursor": "..."}`.
fn sync(req: &Request, stream: &Stream) -> Response {
    let input: Value = if req.body.is_empty() {
        Value::Null
    } else {
        match req.json() {
            Ok(v) => v,
            Err(e) => return api::bad_request(&e.message),
        }
    };
    let page_size = input["pageSize"]
        .as_u64()
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let mut after: Option<String> = input["cursor"].as_str().map(str::to_string);
    let (mut pages, mut imported, mut duplicates) = (0u32, 0u32, 0u32);
    let key = |record: &Value, _: usize| record["id"].as_str().unwrap_or_default().to_string();
    loop {
        let data = match graphql::query(stream.query, json!({ "first": page_size, "after": after }))
        {
            Ok(data) => data,
            Err(res) => return res,
        };
        let connection = &data[stream.field];
        let Some(nodes) = connection["nodes"].as_array() else {
            return api::provider_error(
                &format!("Shopify answered without {}.nodes", stream.field),
                200,
            );
        };
        let batch: Vec<Value> = nodes.iter().map(stream.map).collect();
        if !batch.is_empty() {
            let options = BatchOptions::stream(stream.field).idempotency_key(&key);
            match ingest::batch(stream.entity, &batch, options) {
                Ok(result) => {
                    imported += result.imported;
                    duplicates += result.duplicates;
                }
                Err(e) => return api::from_error(&e),
            }
        }
        pages += 1;
        let info = &connection["pageInfo"];
        if info["hasNextPage"] != Value::Bool(true) {
            after = None;
            break;
        }
        let Some(next) = info["endCursor"].as_str().map(str::to_string) else {
            return api::provider_error(
                &format!(
                    "Shopify said {} has a next page but gave no endCursor",
                    stream.field
                ),
                200,
            );
        };
        if after.as_deref() == Some(next.as_str()) {
            return api::provider_error(
                &format!("Shopify returned the same {} cursor twice", stream.field),
                200,
            );
        }
        after = Some(next);
        if pages >= MAX_PAGES_PER_CALL {
            break;
        }
    }
    keyway_sdk::info!(stream = stream.field, pages = pages, imported = imported; "sync finished");
    api::json(&json!({
        "stream": stream.field,
        "pages": pages,
        "imported": imported,
        "duplicates": duplicates,
        "nextCursor": after,
    }))
}

routes! {
    POST "/setup/test_connection" (api_key) => test_connection,
    POST "/sync/orders" (api_key) => sync_orders,
    POST "/sync/customers" (api_key) => sync_customers,
}
