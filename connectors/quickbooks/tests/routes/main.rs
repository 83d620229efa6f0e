//! Route tests of the QuickBooks connector against the real host doors with a mock
//! Intuit: the company check, every authorization failure a connection meets, rate
//! limits, a paged idempotent invoice sync and the absence of secrets in logs.

mod auth;
mod logs;
mod setup;
mod support;
mod sync;
