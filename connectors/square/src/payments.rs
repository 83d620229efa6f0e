//! `/sync/payments`: pages through `GET /v2/payments` with Square's `cursor` and ingests
//! each page as canonical `Payment` records on the `payments` stream. Must not fetch more
//! than `maxPages` pages in one call.

use crate::canonical;
use crate::client;
use crate::failure;
use keyway_sdk::api::{self, Failure};
use keyway_sdk::sync::{SyncOptions, Tally};
use keyway_sdk::{Error, Request, Response, url};
use serde::Deserialize;
use serde_json::Value;

/// Square's largest page for ListPayments.
const PAGE_SIZE: u32 = 100;

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    payments: Vec<Value>,
    #[serde(default)]
    cursor: Option<String>,
}

pub fn sync_payments(req: Request) -> Result<Response, Error> {
    let options = SyncOptions::from_request(&req)?;
    api::finish(run(options))
}

fn run(options: SyncOptions) -> Result<Response, Failure> {
    let action = "listing payments";
    let mut tally = Tally::new("payments");
    let mut cursor: Option<String> = None;
    loop {
        if tally.pages >= options.max_pages {
            tally.complete = false;
            break;
        }
        let mut path = format!("/payments?sort_order=ASC&limit={PAGE_SIZE}");
        if let Some(c) = &cursor {
            path.push_str("&cursor=");
            path.push_str(&url::encode(c));
        }
        let res = client::get(&path)?;
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
            "Payment",
            &page.payments,
            canonical::payment,
            &canonical::payment_key,
        )?;
        match page.cursor {
            Some(next) if !next.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    Ok(tally.report())
}
