//! `/sync/events`: pages through `GET calendars/{calendarId}/events` with
//! `pageToken`/`nextPageToken` for the calendar named by the `calendar_id` setting
//! (`primary` when unset), and ingests each page as canonical `CalendarEvent` records on
//! the `events` stream. Must not fetch more than `maxPages` pages in one call.

use crate::canonical;
use crate::client;
use crate::failure;
use keyway_sdk::api::{self, Failure};
use keyway_sdk::sync::{SyncOptions, Tally};
use keyway_sdk::{Error, Request, Response, Settings, url};
use serde::Deserialize;
use serde_json::Value;

/// Events per page (the Calendar API's default; its maximum is 2500).
const PAGE_SIZE: u32 = 250;
/// The calendar synced when the connection names none.
const DEFAULT_CALENDAR: &str = "primary";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    items: Vec<Value>,
    #[serde(default)]
    next_page_token: Option<String>,
}

pub fn sync_events(req: Request) -> Result<Response, Error> {
    let options = SyncOptions::from_request(&req)?;
    let calendar = Settings::get("calendar_id")?
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| DEFAULT_CALENDAR.to_string());
    api::finish(run(&calendar, options))
}

fn run(calendar: &str, options: SyncOptions) -> Result<Response, Failure> {
    let action = "listing calendar events";
    let base = format!("{}/{}/events", client::CALENDARS_URL, url::encode(calendar));
    let mut tally = Tally::new("events");
    let mut page_token: Option<String> = None;
    loop {
        if tally.pages >= options.max_pages {
            tally.complete = false;
            break;
        }
        let url = url::Query::new()
            .push("maxResults", PAGE_SIZE)
            .push_opt("pageToken", page_token.as_deref())
            .to_url(&base);
        let res = client::get(&url)?;
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
            "CalendarEvent",
            &page.items,
            |e| canonical::event(calendar, e),
            &canonical::event_key,
        )?;
        match page.next_page_token {
            Some(next) if !next.is_empty() => page_token = Some(next),
            _ => break,
        }
    }
    Ok(tally.report())
}
