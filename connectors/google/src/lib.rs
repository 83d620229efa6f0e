//! `google`: a Google Calendar source connector over Google's OpenID Connect OAuth.
//! `/setup/test_connection` proves the connection's token by reading the OpenID userinfo
//! of the account it belongs to; `/sync/events` pages through the events of the
//! configured calendar (setting `calendar_id`, default `primary`) and ingests them as
//! canonical `CalendarEvent` records with idempotency keys, so a re-run stores nothing
//! twice.
//!
//! This file only declares the route table. The token never passes through the guest:
//! every Google call asks the host to inject it (`exposeAccessToken: false`).

mod canonical;
mod client;
mod events;
mod failure;
mod setup;

keyway_sdk::routes! {
    POST "/setup/test_connection" (api_key) => setup::test_connection,
    POST "/sync/events" (api_key) => events::sync_events,
}
