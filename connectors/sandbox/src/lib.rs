//! `sandbox`: the connector for Keyway's built-in sandbox provider (`keyway serve
//! --sandbox`). It checks the account behind the grant and syncs the shop's orders page
//! by page into the `order` entity, keyed by order id, so a second sync stores nothing new.

use keyway_sdk::{Error, ErrorCode, Http, HttpOptions, Request, Response, api, ingest, routes};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

const API: &str = "http://127.0.0.1:8788/api";
/// Orders asked for per page.
const PAGE_SIZE: u32 = 10;
/// A guard against a provider that never stops paging.
const MAX_PAGES: u32 = 1000;

/// A provider answer that is not a success, as the route's error.
fn provider_failure(what: &str, res: &keyway_sdk::HttpResponse) -> Response {
    let retry = res.header("retry-after").unwrap_or("-");
    api::provider_error(
        &format!(
            "{what}: the sandbox answered {} (retry-after {retry})",
            res.status
        ),
        res.status,
    )
}

/// `POST /setup/test_connection`: the account id, name and domain behind the grant.
fn test_connection(_req: Request) -> Result<Response, Error> {
    let res = Http::get(&format!("{API}/me"), HttpOptions::oauth(60))?;
    if !res.ok() {
        return Ok(provider_failure("reading the account", &res));
    }
    let me: Value = res.json()?;
    let field = |k: &str| me.get(k).and_then(Value::as_str).map(str::to_string);
    let id = field("id")
        .ok_or_else(|| Error::new(ErrorCode::ProviderUnavailable, "the account has no id"))?;
    Ok(api::json(&json!({
        "providerAccountId": id,
        "providerAccountName": field("name"),
        "providerAccountDomain": field("domain"),
    })))
}

/// `POST /sync/orders`: every order, oldest first, ingested with its id as the key.
fn sync_orders(_req: Request) -> Result<Response, Error> {
    let mut cursor: Option<String> = None;
    let (mut pages, mut imported, mut duplicates) = (0u32, 0u32, 0u32);
    loop {
        if pages >= MAX_PAGES {
            return Err(Error::new(
                ErrorCode::ProviderUnavailable,
                format!("the orders API was still paging after {MAX_PAGES} pages"),
            ));
        }
        let mut url = format!("{API}/orders?limit={PAGE_SIZE}");
        if let Some(c) = &cursor {
            url.push_str("&cursor=");
            url.push_str(&utf8_percent_encode(c, NON_ALPHANUMERIC).to_string());
        }
        let res = Http::get(&url, HttpOptions::oauth(60))?;
        if !res.ok() {
            return Ok(provider_failure("listing orders", &res));
        }
        let page: Value = res.json()?;
        let orders = page
            .get("orders")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::ProviderUnavailable,
                    "the orders page has no `orders` list",
                )
            })?;
        pages += 1;
        let key = |order: &Value, index: usize| {
            order
                .get("id")
                .and_then(Value::as_str)
                .map(|id| format!("sandbox-order-{id}"))
                .unwrap_or_else(|| format!("sandbox-order-page{pages}-{index}"))
        };
        if !orders.is_empty() {
            let result = ingest::batch(
                "order",
                orders,
                ingest::BatchOptions::stream("orders").idempotency_key(&key),
            )?;
            imported += result.imported;
            duplicates += result.duplicates;
        }
        cursor = page
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    keyway_sdk::info!(pages = pages.to_string(); "orders synced");
    Ok(api::json(&json!({
        "pages": pages,
        "imported": imported,
        "duplicates": duplicates,
    })))
}

routes! {
    POST "/setup/test_connection" (api_key) => test_connection,
    POST "/sync/orders" (api_key) => sync_orders,
}
