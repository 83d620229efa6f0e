//! `/sync/orders`: lists the merchant's locations (`GET /v2/locations`), then pages
//! through `POST /v2/orders/search` for them, ten locations per search as Square
//! allows, with Square's `cursor`, ingesting each page as canonical `Order` records on
//! the `orders` stream. Must not fetch more than `maxPages` order pages in one call.

use crate::canonical;
use crate::client;
use crate::failure;
use keyway_sdk::api::{self, Failure};
use keyway_sdk::sync::{SyncOptions, Tally};
use keyway_sdk::{Error, Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};

/// Square accepts at most this many location ids in one SearchOrders request.
const LOCATIONS_PER_SEARCH: usize = 10;
/// Orders per page (Square's maximum is 1000).
const PAGE_SIZE: u32 = 500;

#[derive(Deserialize)]
struct Locations {
    #[serde(default)]
    locations: Vec<Value>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    orders: Vec<Value>,
    #[serde(default)]
    cursor: Option<String>,
}

pub fn sync_orders(req: Request) -> Result<Response, Error> {
    let options = SyncOptions::from_request(&req)?;
    api::finish(run(options))
}

fn location_ids() -> Result<Vec<String>, Failure> {
    let action = "listing locations";
    let res = client::get("/locations")?;
    if !res.ok() {
        return Err(failure::provider_failure(&res, action, None));
    }
    let body: Locations = res
        .json()
        .map_err(|e| failure::malformed(action, &e.message, None))?;
    Ok(body
        .locations
        .iter()
        .filter_map(|l| l["id"].as_str().filter(|s| !s.is_empty()))
        .map(str::to_string)
        .collect())
}

fn run(options: SyncOptions) -> Result<Response, Failure> {
    let locations = location_ids()?;
    let action = "searching orders";
    let mut tally = Tally::new("orders");
    'chunks: for chunk in locations.chunks(LOCATIONS_PER_SEARCH) {
        let mut cursor: Option<String> = None;
        loop {
            if tally.pages >= options.max_pages {
                tally.complete = false;
                break 'chunks;
            }
            let mut query = json!({
                "location_ids": chunk,
                "limit": PAGE_SIZE,
                "return_entries": false,
                "query": { "sort": { "sort_field": "CREATED_AT", "sort_order": "ASC" } },
            });
            if let Some(c) = &cursor {
                query["cursor"] = Value::from(c.as_str());
            }
            let res = client::post("/orders/search", &query)?;
            if !res.ok() {
                return Err(failure::provider_failure(
                    &res,
                    action,
                    Some(tally.to_json()),
                ));
            }
            let page: Page = res
                .json()
                .map_err(|e| failure::malformed(action, &e.message, Some(tally.to_json())))?;
            tally.store_page(
                "Order",
                &page.orders,
                canonical::order,
                &canonical::order_key,
            )?;
            match page.cursor {
                Some(next) if !next.is_empty() => cursor = Some(next),
                _ => break,
            }
        }
    }
    Ok(tally.report())
}
