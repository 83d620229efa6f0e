//! Streams: a connector's syncs that the host runs by itself, on a schedule, resuming from
//! their last checkpoint.
//!
//! Owns: the schedule grammar and its arithmetic (`schedule.rs`: the next due instant, the
//! catch-up rule after downtime, retry backoff with jitter), and what a stream's mode means.
//! Must not: read the clock (callers pass `now`), touch the store, or import the manifest
//! (the manifest imports this module to validate `streams`).

pub mod schedule;

pub use schedule::{Backoff, Schedule, ScheduleError, catch_up};

/// How a stream's cursor lives across runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The cursor is kept after a run succeeds: the next run starts where this one ended.
    Incremental,
    /// The cursor is cleared after a run succeeds: every run is a whole pass, and only a
    /// run that stopped half-way resumes from its last checkpoint.
    Full,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Incremental => "incremental",
            Mode::Full => "full",
        }
    }
}
