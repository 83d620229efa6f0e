//! Per-invocation resource limits. Like wasmtime's `StoreLimits`, but it remembers that
//! a growth was refused, so a guest that dies of an allocation failure is reported as
//! having exceeded its memory limit rather than as an anonymous trap.

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
