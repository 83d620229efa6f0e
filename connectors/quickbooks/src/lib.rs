//! `quickbooks`: a QuickBooks Online source connector. Intuit OAuth 2.0 is held by the
//! host (tokens injected into allowed requests only, refresh tokens rotated host-side);
//! the company id (`realmId`) Intuit returns on the authorization callback reaches the
//! connector as a setting. Routes: the company check and an idempotent invoice sync.
//!
//! This file only declares the modules and the route table; it must not hold logic.

mod canonical;
mod company;
mod failure;
mod invoices;
mod query;
mod setup;

keyway_sdk::routes! {
    POST "/setup/test_connection" (api_key) => setup::test_connection,
    POST "/sync/invoices" (api_key) => invoices::sync,
}
