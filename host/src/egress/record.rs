//! The list of outbound calls one invocation made, for the invocation record.
//!
//! Owns [`CallRecord`] (method, redacted URL, status or error code, duration, whether
//! it was the retry after a 401) and [`CallLog`], a small thread-safe append-only list.
//!
//! It must not hold header values or bodies: URLs are redacted before they get here.

use std::sync::Mutex;
use std::time::Duration;

use super::error::EgressErrorCode;
use crate::types::Method;

/// One outbound call (or a refused attempt at one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// Method.
    pub method: Method,
    /// URL with the invocation's secrets redacted.
    pub url: String,
    /// Status code, when a response came back.
    pub status: Option<u16>,
    /// Error code, when none did.
    pub error: Option<EgressErrorCode>,
    /// Time spent on this attempt.
    pub duration: Duration,
    /// Whether this was the single retry after a 401 and a forced refresh.
    pub retry: bool,
}

/// The calls of one invocation, in order.
#[derive(Debug, Default)]
pub struct CallLog {
    calls: Mutex<Vec<CallRecord>>,
}

impl CallLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<CallRecord>> {
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends one record.
    pub fn push(&self, record: CallRecord) {
        self.lock().push(record);
    }

    /// Number of records so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// A copy of the records so far.
    pub fn snapshot(&self) -> Vec<CallRecord> {
        self.lock().clone()
    }

    /// Takes the records out, leaving the log empty.
    pub fn take(&self) -> Vec<CallRecord> {
        std::mem::take(&mut *self.lock())
    }
}
