//! Limits and knobs of the sandbox, with safe defaults.

use std::path::PathBuf;

use super::cache::CacheKey;
use std::time::Duration;

/// How the runtime is set up. Every limit applies per invocation unless it says otherwise.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// The key that authenticates cache entries (derived from the master key); `None`
    /// uses a random key of this process, so entries are not reused across processes.
    pub cache_key: Option<CacheKey>,
    /// Linear memory a guest may grow to.
    pub memory_limit: usize,
    /// Wall-clock time an invocation may run, host calls included.
    pub deadline: Duration,
    /// Instances alive at once (the pooling allocator's slots); callers beyond it wait.
    pub max_instances: u32,
    /// Use the pooling allocator (faster instantiation, memory reserved up front).
    pub pooling: bool,
    /// Bytes of guest stdout and stderr kept per invocation; the rest is dropped and counted.
    pub guest_output_limit: usize,
    /// Largest response body a route may return.
    pub max_response_body: usize,
    /// Events the `log` door writes per invocation; the rest are dropped and counted.
    pub log_events_limit: usize,
    /// Bytes of log text (messages and fields, after redaction and clipping) the `log`
    /// door writes per invocation; events past it are dropped and counted.
    pub log_bytes_limit: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            cache_key: None,
            memory_limit: 64 << 20,
            deadline: Duration::from_secs(30),
            max_instances: 128,
            pooling: true,
            guest_output_limit: 64 << 10,
            max_response_body: 16 << 20,
            log_events_limit: 1_000,
            log_bytes_limit: 1 << 20,
        }
    }
}
