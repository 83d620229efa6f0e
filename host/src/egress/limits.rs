//! Caps on outbound HTTP: sizes, counts and time.
//!
//! Owns [`EgressLimits`] (per invocation, from the host's configuration),
//! [`RequestCounter`] (requests used by one invocation) and the checks that turn an
//! exceeded cap into a `too_large` error naming the cap. Response bodies are cut off by
//! the transport as soon as the cap is passed, using [`EgressLimits::max_response_body_bytes`].
//!
//! It must not do I/O.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use http::HeaderMap;

use super::error::EgressError;

/// Size, count and time caps for outbound requests of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressLimits {
    /// Response body bytes; the body is cut off with `too_large` once past this.
    pub max_response_body_bytes: usize,
    /// Number of response header fields.
    pub max_response_headers: usize,
    /// Total bytes of response header names and values.
    pub max_response_header_bytes: usize,
    /// Request body bytes the guest may send.
    pub max_request_body_bytes: usize,
    /// Number of request header fields the guest may send.
    pub max_request_headers: usize,
    /// Total bytes of request header names and values the guest may send.
    pub max_request_header_bytes: usize,
    /// Length of the URL string.
    pub max_url_bytes: usize,
    /// Guest `send` calls per invocation (the one retry after a 401 is not counted).
    pub max_requests_per_invocation: u32,
    /// Timeout when the guest gives none.
    pub default_timeout: Duration,
    /// Upper bound on any timeout the guest asks for.
    pub max_timeout: Duration,
}

impl Default for EgressLimits {
    fn default() -> Self {
        Self {
            max_response_body_bytes: 10 * 1024 * 1024,
            max_response_headers: 100,
            max_response_header_bytes: 64 * 1024,
            max_request_body_bytes: 10 * 1024 * 1024,
            max_request_headers: 100,
            max_request_header_bytes: 64 * 1024,
            max_url_bytes: 8 * 1024,
            max_requests_per_invocation: 1000,
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(120),
        }
    }
}

impl EgressLimits {
    /// The timeout for a request: the guest's, else the default, never above the max.
    pub(crate) fn timeout_for(&self, guest_ms: Option<u32>) -> Result<Duration, EgressError> {
        match guest_ms {
            Some(0) => Err(EgressError::invalid("timeout-ms must be greater than zero")),
            Some(ms) => Ok(Duration::from_millis(u64::from(ms)).min(self.max_timeout)),
            None => Ok(self.default_timeout.min(self.max_timeout)),
        }
    }

    /// Checks response headers against the count and byte caps.
    pub(crate) fn check_response_headers(&self, headers: &HeaderMap) -> Result<(), EgressError> {
        if headers.len() > self.max_response_headers {
            return Err(EgressError::too_large(format!(
                "response has {} header fields; the cap is {}",
                headers.len(),
                self.max_response_headers
            )));
        }
        let bytes = header_bytes(headers);
        if bytes > self.max_response_header_bytes {
            return Err(EgressError::too_large(format!(
                "response headers total {bytes} bytes; the cap is {}",
                self.max_response_header_bytes
            )));
        }
        Ok(())
    }

    /// Error for a response body that passed the cap.
    pub fn body_too_large(&self) -> EgressError {
        EgressError::too_large(format!(
            "response body exceeds the cap of {} bytes",
            self.max_response_body_bytes
        ))
    }
}

/// Total bytes of header names and values.
pub(crate) fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.as_bytes().len())
        .sum()
}

/// Counts the outbound requests of one invocation.
#[derive(Debug, Default)]
pub struct RequestCounter {
    used: AtomicU32,
    forced_refresh: AtomicBool,
}

impl RequestCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests taken so far (refused ones included).
    pub fn used(&self) -> u32 {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes the invocation's one forced token refresh; false once it was taken.
    pub(crate) fn take_forced_refresh(&self) -> bool {
        !self.forced_refresh.swap(true, Ordering::Relaxed)
    }

    /// Takes one request from the budget, or fails with `too_large` once `max` are used.
    pub fn take(&self, max: u32) -> Result<(), EgressError> {
        let before = self.used.fetch_add(1, Ordering::Relaxed);
        if before >= max {
            self.used.fetch_sub(1, Ordering::Relaxed);
            return Err(EgressError::too_large(format!(
                "this invocation already made {max} outbound requests, the cap per invocation"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::error::EgressErrorCode;

    #[test]
    fn timeout_defaults_and_caps() {
        let l = EgressLimits::default();
        assert_eq!(l.timeout_for(None).unwrap(), Duration::from_secs(30));
        assert_eq!(
            l.timeout_for(Some(1500)).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            l.timeout_for(Some(u32::MAX)).unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(
            l.timeout_for(Some(0)).unwrap_err().code,
            EgressErrorCode::InvalidInput
        );
    }

    #[test]
    fn counter_stops_at_cap() {
        let c = RequestCounter::new();
        assert!(c.take(2).is_ok());
        assert!(c.take(2).is_ok());
        let err = c.take(2).unwrap_err();
        assert_eq!(err.code, EgressErrorCode::TooLarge);
        assert_eq!(c.used(), 2);
    }

    #[test]
    fn header_caps() {
        let l = EgressLimits {
            max_response_headers: 2,
            max_response_header_bytes: 20,
            ..EgressLimits::default()
        };
        let mut h = HeaderMap::new();
        h.insert("a", "1".parse().unwrap());
        assert!(l.check_response_headers(&h).is_ok());
        h.insert("b", "x".repeat(30).parse().unwrap());
        assert_eq!(
            l.check_response_headers(&h).unwrap_err().code,
            EgressErrorCode::TooLarge
        );
        h.insert("c", "1".parse().unwrap());
        assert_eq!(
            l.check_response_headers(&h).unwrap_err().code,
            EgressErrorCode::TooLarge
        );
    }
}
