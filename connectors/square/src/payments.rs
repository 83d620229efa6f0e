//! `/sync/payments`: pages through `GET /v2/payments` with Square's `cursor` and ingests
//! each page as canonical `Payment` records on the `payments` stream. Must not fetch more
//! than `maxPages` pages in one call.

use crate::canonical;
use crate::client;
use crate::failure::{self, Failure};
use crate::sync::{SyncOptions, Tally};
use keyway_sdk::ingest::{self, BatchOptions};
use keyway_sdk::{Error, Request, Response, api};
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
    failure::finish(run(options))
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
            path.push_str(&client::encode(c));
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
        tally.pages += 1;
        let records: Vec<Value> = page
            .payments
            .iter()
            .filter_map(canonical::payment)
            .collect();
        tally.skip(page.payments.len() - records.len());
        if !records.is_empty() {
            let key = canonical::payment_key;
            let batch = ingest::batch(
                "Payment",
                &records,
                BatchOptions::stream("payments")
                    .continue_on_error(true)
                    .idempotency_key(&key),
            )?;
            tally.add(&batch);
        }
        keyway_sdk::debug!(stream = "payments", page = tally.pages; "page stored");
        match page.cursor {
            Some(next) if !next.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    keyway_sdk::info!(
        stream = "payments",
        pages = tally.pages,
        imported = tally.imported,
        duplicates = tally.duplicates;
        "sync finished"
    );
    Ok(api::json(&tally.to_json()))
}
