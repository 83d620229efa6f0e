//! `POST /sync/messages`: pages through the signed-in user's messages
//! (`/me/messages?$top=..&$select=..`), following each `@odata.nextLink` exactly as
//! Graph sent it (the host's allowlist decides whether it may be fetched), and ingests
//! each page as canonical `EmailMessage` records with idempotency keys, so a re-run
//! stores nothing twice. Body (all optional): `{"pageSize": 1..=1000, "maxPages":
//! 1..=500}`. Answers the counts and whether the mailbox was read to the end. Must not
//! take a URL from the caller.

use keyway_sdk::ingest::{self, BatchOptions};
use keyway_sdk::{Error, ErrorCode, Http, HttpOptions, Request, Response, api};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::canonical;
use crate::failure::provider_failure;
use crate::graph;

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 1000;
const DEFAULT_MAX_PAGES: u32 = 100;
const MAX_PAGES_LIMIT: u32 = 500;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SyncOptions {
    page_size: Option<u32>,
    max_pages: Option<u32>,
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
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Ok(api::bad_request(&format!(
            "pageSize must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    if !(1..=MAX_PAGES_LIMIT).contains(&max_pages) {
        return Ok(api::bad_request(&format!(
            "maxPages must be between 1 and {MAX_PAGES_LIMIT}"
        )));
    }
    let mut counts = Counts::default();
    let mut next = Some(graph::first_messages_page(page_size));
    while let Some(url) = next.take() {
        if counts.pages == max_pages {
            next = Some(url);
            break;
        }
        let res = Http::get(&url, HttpOptions::oauth(300))?;
        if !res.ok() {
            let progress = json!({ "counts": counts.json() });
            return provider_failure(&res, "listing messages", Some(progress));
        }
        let body: Value = res.json()?;
        let messages = body
            .get("value")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::invalid_input("Graph's messages answer has no value array"))?;
        counts.pages += 1;
        store_page(messages, &mut counts)?;
        keyway_sdk::info!(stream = "messages", page = counts.pages, returned = messages.len(); "Microsoft 365 message page stored");
        next = match body.get("@odata.nextLink") {
            None | Some(Value::Null) => None,
            Some(Value::String(link)) if *link == url => {
                return Err(Error::new(
                    ErrorCode::Internal,
                    "Graph answered a next-page link equal to the page just read",
                ));
            }
            Some(Value::String(link)) => Some(link.clone()),
            Some(_) => {
                return Err(Error::invalid_input(
                    "Graph's @odata.nextLink is not a string",
                ));
            }
        };
    }
    let mut answer = counts.json();
    answer["stream"] = Value::from("messages");
    answer["complete"] = Value::from(next.is_none());
    Ok(api::json(&answer))
}

fn store_page(messages: &[Value], counts: &mut Counts) -> Result<(), Error> {
    let mut records = Vec::with_capacity(messages.len());
    for m in messages {
        match canonical::message(m) {
            Some(record) => records.push(record),
            None => {
                counts.skipped += 1;
                keyway_sdk::warn!(stream = "messages"; "skipped a Graph message without an id");
            }
        }
    }
    if records.is_empty() {
        return Ok(());
    }
    let result = ingest::batch(
        "EmailMessage",
        &records,
        BatchOptions::stream("messages").idempotency_key(&canonical::message_key),
    )?;
    counts.imported += result.imported;
    counts.duplicates += result.duplicates;
    Ok(())
}
