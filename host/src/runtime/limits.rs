//! Per-invocation resource limits. Like wasmtime's `StoreLimits`, but it remembers that
//! a growth was refused, so a guest that dies of an allocation failure is reported as
//! having exceeded its memory limit rather than as an anonymous trap. Also the budget of
//! the `log` door, whose overflow is dropped and counted rather than trapped.

use wasmtime::ResourceLimiter;

#[derive(Debug)]
pub(crate) struct InvocationLimits {
    memory_limit: usize,
    table_elements: usize,
    pub(crate) memory_denied: bool,
}

impl InvocationLimits {
    pub(crate) fn new(memory_limit: usize) -> Self {
        InvocationLimits {
            memory_limit,
            table_elements: 100_000,
            memory_denied: false,
        }
    }
}

impl ResourceLimiter for InvocationLimits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_limit && maximum.is_none_or(|max| desired <= max);
        if !allowed {
            self.memory_denied = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements && maximum.is_none_or(|max| desired <= max))
    }
}

/// How much one invocation may write through the `log` door: at most `max_events`
/// events and `max_bytes` bytes of (redacted, clipped) text. Whatever is over is dropped
/// and counted, and the count is logged once when the invocation ends.
#[derive(Debug)]
pub(crate) struct LogBudget {
    max_events: usize,
    max_bytes: usize,
    events: usize,
    bytes: usize,
    pub(crate) dropped_events: usize,
    pub(crate) dropped_bytes: usize,
}

impl LogBudget {
    pub(crate) fn new(max_events: usize, max_bytes: usize) -> Self {
        LogBudget {
            max_events,
            max_bytes,
            events: 0,
            bytes: 0,
            dropped_events: 0,
            dropped_bytes: 0,
        }
    }

    /// Whether any event could still be written; when not, the event of `raw_bytes` (what
    /// the guest passed) is counted as dropped and the caller drops it unread.
    pub(crate) fn has_room(&mut self, raw_bytes: usize) -> bool {
        if self.events < self.max_events && self.bytes < self.max_bytes {
            return true;
        }
        self.drop_event(raw_bytes);
        false
    }

    /// Takes `bytes` of the budget for one event; false when the event does not fit, and
    /// then the guest's `raw_bytes` are counted as dropped.
    pub(crate) fn admit(&mut self, bytes: usize, raw_bytes: usize) -> bool {
        if self.events >= self.max_events || self.bytes.saturating_add(bytes) > self.max_bytes {
            self.drop_event(raw_bytes);
            return false;
        }
        self.events += 1;
        self.bytes += bytes;
        true
    }

    fn drop_event(&mut self, bytes: usize) {
        self.dropped_events = self.dropped_events.saturating_add(1);
        self.dropped_bytes = self.dropped_bytes.saturating_add(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::LogBudget;

    #[test]
    fn events_over_either_cap_are_dropped_and_counted() {
        let mut b = LogBudget::new(3, 100);
        assert!(b.has_room(10) && b.admit(10, 10));
        assert!(b.has_room(95) && !b.admit(95, 95), "over the byte cap");
        assert!(b.admit(90, 90));
        assert!(b.admit(0, 0));
        assert!(!b.has_room(7), "over the event cap");
        assert_eq!((b.dropped_events, b.dropped_bytes), (2, 102));
    }
}
