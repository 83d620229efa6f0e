//! Route tests of the Square connector: each runs the compiled component through the real
//! host (`keyway-testing`) against a mock Square, with seeded OAuth state.

mod auth;
mod common;
mod redaction;
mod setup;
mod sync_orders;
mod sync_payments;
