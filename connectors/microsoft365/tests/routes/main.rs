//! Route tests of the Microsoft 365 connector against the real host doors with a mock
//! Graph: the account check, the tenant setting's validation, every authorization
//! failure a connection meets, throttling, a nextLink-paged idempotent mail sync and
//! the absence of secrets in logs.

mod auth;
mod logs;
mod setup;
mod support;
mod sync;
mod tenant;
