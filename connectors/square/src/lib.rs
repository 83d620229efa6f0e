//! `square`: a Square source connector. `/setup/test_connection` proves the connection's
//! token by reading the merchant it belongs to; `/sync/payments` and `/sync/orders` page
//! through Square's payments and orders and ingest them as canonical `Payment` and
//! `Order` records with idempotency keys, so a re-run stores nothing twice.
//!
//! This file only declares the route table. The token never passes through the guest:
//! every Square call asks the host to inject it (`exposeAccessToken: false`).

mod canonical;
mod client;
mod failure;
mod orders;
mod payments;
mod setup;

keyway_sdk::routes! {
    POST "/setup/test_connection" (api_key) => setup::test_connection,
    POST "/sync/payments" (api_key) => payments::sync_payments,
    POST "/sync/orders" (api_key) => orders::sync_orders,
}
