//! `microsoft365`: a Microsoft 365 source connector over Microsoft Graph. OAuth is the
//! Microsoft identity platform v2 with the directory (tenant) in the endpoint paths; the
//! host holds the tokens and injects them into allowed Graph requests only. Routes: the
//! signed-in account check and an idempotent mail sync.
//!
//! This file only declares the modules and the route table; it must not hold logic.

mod canonical;
mod failure;
mod graph;
mod messages;
mod setup;

keyway_sdk::routes! {
    POST "/setup/test_connection" (api_key) => setup::test_connection,
    POST "/sync/messages" (api_key) => messages::sync,
}
