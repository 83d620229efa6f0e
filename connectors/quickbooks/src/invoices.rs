//! `POST /sync/invoices`: pages through Intuit's query endpoint (`select * from Invoice
//! STARTPOSITION n MAXRESULTS m`) until a page comes back shorter than `MAXRESULTS`,
//! and ingests each page as canonical `Invoice` records with idempotency keys, so a
//! re-run stores nothing twice. Body (all optional): `{"pageSize": 1..=1000,
//! "maxPages": 1..=500, "startPosition": 1..}`. Answers the counts and, when the page
//! cap stopped it early, where to continue. Must not follow any URL the provider sends.

use keyway_sdk::ingest::{self, BatchOptions};
use keyway_sdk::{Error, Http, HttpOptions, Request, Response, api};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::canonical;
use crate::company::Company;
use crate::failure::provider_failure;
use crate::query;

const DEFAULT_PAGE_SIZE: u32 = 100;
const DEFAULT_MAX_PAGES: u32 = 100;
const MAX_PAGES_LIMIT: u32 = 500;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SyncOptions {
    page_size: Option<u32>,
    max_pages: Option<u32>,
    start_position: Option<u32>,
}

#[derive(Debug, Default)]
struct Counts {
    imported: u32,
    duplicates: u32,
    skipped: u32,
    pages: u32,
}

impl Counts {
    fn json(&self) -> Value {
        json!({
            "imported": self.imported,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "pages": self.pages,
        })
    }
}

pub fn sync(req: Request) -> Result<Response, Error> {
    let opts: SyncOptions = req.json::<Option<SyncOptions>>()?.unwrap_or_default();
    let page_size = opts.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    let max_pages = opts.max_pages.unwrap_or(DEFAULT_MAX_PAGES);
    let mut start = opts.start_position.unwrap_or(1);
    if !(1..=query::MAX_RESULTS_LIMIT).contains(&page_size) {
        return Ok(api::bad_request(&format!(
            "pageSize must be between 1 and {}",
            query::MAX_RESULTS_LIMIT
        )));
    }
    if !(1..=MAX_PAGES_LIMIT).contains(&max_pages) {
        return Ok(api::bad_request(&format!(
            "maxPages must be between 1 and {MAX_PAGES_LIMIT}"
        )));
    }
    if start == 0 {
        return Ok(api::bad_request("startPosition counts from 1"));
    }
    let company = Company::from_settings()?;
    let mut counts = Counts::default();
    let complete = loop {
        if counts.pages == max_pages {
            break false;
        }
        let url = query::url(&company, &query::select_page("Invoice", start, page_size));
        let res = Http::get(
            &url,
            HttpOptions::oauth(300).header("accept", "application/json"),
        )?;
        if !res.ok() {
            let progress = json!({ "counts": counts.json(), "nextStartPosition": start });
            return provider_failure(&res, "querying invoices", Some(progress));
        }
        let body: Value = res.json()?;
        let page = body
            .get("QueryResponse")
            .filter(|v| v.is_object())
            .ok_or_else(|| {
                Error::invalid_input("Intuit's query answer has no QueryResponse object")
            })?;
        let invoices = page
            .get("Invoice")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        counts.pages += 1;
        store_page(&company, invoices, &mut counts)?;
        keyway_sdk::info!(stream = "invoices", page = counts.pages, returned = invoices.len(); "QuickBooks invoice page stored");
        let returned = u32::try_from(invoices.len()).unwrap_or(u32::MAX);
        if returned < page_size {
            break true;
        }
        start = start.saturating_add(returned);
    };
    let mut answer = counts.json();
    answer["stream"] = Value::from("invoices");
    answer["complete"] = Value::from(complete);
    if !complete {
        answer["nextStartPosition"] = Value::from(start);
    }
    Ok(api::json(&answer))
}

fn store_page(company: &Company, invoices: &[Value], counts: &mut Counts) -> Result<(), Error> {
    let mut records = Vec::with_capacity(invoices.len());
    for inv in invoices {
        match canonical::invoice(&company.realm_id, inv) {
            Some(record) => records.push(record),
            None => {
                counts.skipped += 1;
                keyway_sdk::warn!(stream = "invoices"; "skipped an Intuit invoice without an Id");
            }
        }
    }
    if records.is_empty() {
        return Ok(());
    }
    let result = ingest::batch(
        "Invoice",
        &records,
        BatchOptions::stream("invoices").idempotency_key(&canonical::invoice_key),
    )?;
    counts.imported += result.imported;
    counts.duplicates += result.duplicates;
    Ok(())
}
