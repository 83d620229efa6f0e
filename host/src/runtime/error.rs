//! Why loading a component or invoking a route failed. Every message names the connector
//! and, for invocations, the route; none carries a secret (messages from the guest are
//! redacted before they get here).

use std::path::PathBuf;
use std::time::Duration;

/// Longest text from an invocation (a trap message, a guest's answer) quoted in an error;
/// it is redacted first, then clipped to this many bytes.
pub(crate) const MAX_ERROR_TEXT: usize = 4 << 10;

/// A component that cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("connector `{connector}`: cannot read component {path}: {source}")]
    Read {
        connector: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("connector `{connector}`: {path} is not a valid wasm component: {reason}")]
    NotAComponent {
        connector: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "connector `{connector}`: component does not implement the keyway:connector world: {reason}"
    )]
    WrongWorld { connector: String, reason: String },
    #[error("connector `{connector}`: reading the route table failed: {reason}")]
    RouteTable { connector: String, reason: String },
    #[error("connector `{connector}`: invalid route table: {reason}")]
    BadRoutes { connector: String, reason: String },
    #[error("runtime setup failed: {0}")]
    Engine(String),
}

/// A route invocation that did not produce a guest response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("connector `{connector}` has no route {path}")]
    RouteNotFound { connector: String, path: String },
    #[error("connector `{connector}`: route {path} does not accept {method} (allowed: {allowed})")]
    MethodNotAllowed {
        connector: String,
        path: String,
        method: String,
        allowed: String,
    },
    #[error("connector `{connector}`: route {route} trapped: {message}")]
    Trapped {
        connector: String,
        route: String,
        message: String,
    },
    #[error("connector `{connector}`: route {route} exceeded its deadline of {deadline:?}")]
    DeadlineExceeded {
        connector: String,
        route: String,
        deadline: Duration,
    },
    #[error("connector `{connector}`: route {route} exceeded its memory limit of {limit} bytes")]
    MemoryExceeded {
        connector: String,
        route: String,
        limit: usize,
    },
    #[error("connector `{connector}`: route {route} returned a malformed response: {reason}")]
    MalformedResponse {
        connector: String,
        route: String,
        reason: String,
    },
    #[error("connector `{connector}`: could not start route {route}: {reason}")]
    Instantiate {
        connector: String,
        route: String,
        reason: String,
    },
}

impl InvokeError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            InvokeError::RouteNotFound { .. } => "route_not_found",
            InvokeError::MethodNotAllowed { .. } => "method_not_allowed",
            InvokeError::Trapped { .. } => "route_trapped",
            InvokeError::DeadlineExceeded { .. } => "deadline_exceeded",
            InvokeError::MemoryExceeded { .. } => "memory_exceeded",
            InvokeError::MalformedResponse { .. } => "malformed_response",
            InvokeError::Instantiate { .. } => "instantiate_failed",
        }
    }

    /// The HTTP status a caller of the route should see.
    pub fn http_status(&self) -> u16 {
        match self {
            InvokeError::RouteNotFound { .. } => 404,
            InvokeError::MethodNotAllowed { .. } => 405,
            InvokeError::DeadlineExceeded { .. } => 504,
            InvokeError::Trapped { .. }
            | InvokeError::MemoryExceeded { .. }
            | InvokeError::MalformedResponse { .. }
            | InvokeError::Instantiate { .. } => 500,
        }
    }
}
