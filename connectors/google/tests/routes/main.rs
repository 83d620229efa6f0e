//! Route tests of the Google Calendar connector: each runs the compiled component through
//! the real host (`keyway-testing`) against a mock Google, with seeded OAuth state.

mod auth;
mod common;
mod redaction;
mod setup;
mod sync_events;
