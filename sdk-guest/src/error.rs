//! Errors the host reports to a connector, with stable codes a route can branch on.

use crate::wit::keyway::connector::types as wit;
use std::fmt;

/// Why a host call failed. Mirrors the WIT `error-code` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    ReauthRequired,
    MissingScopes,
    NotPermitted,
    ProviderUnavailable,
    Denied,
    Timeout,
    InvalidInput,
    TooLarge,
    NotFound,
    Internal,
}

impl ErrorCode {
    /// The stable snake_case name (`reauth_required`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ReauthRequired => "reauth_required",
            ErrorCode::MissingScopes => "missing_scopes",
            ErrorCode::NotPermitted => "not_permitted",
            ErrorCode::ProviderUnavailable => "provider_unavailable",
            ErrorCode::Denied => "denied",
            ErrorCode::Timeout => "timeout",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status a route answers with when it gives up on this error with `?`.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::ReauthRequired => 401,
            ErrorCode::MissingScopes | ErrorCode::NotPermitted | ErrorCode::Denied => 403,
            ErrorCode::ProviderUnavailable => 503,
            ErrorCode::Timeout => 504,
            ErrorCode::InvalidInput => 400,
            ErrorCode::TooLarge => 502,
            ErrorCode::NotFound => 404,
            ErrorCode::Internal => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a host call (or raised by the connector itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// Shorthand for a malformed-input error raised by the connector.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidInput, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<wit::Error> for Error {
    fn from(e: wit::Error) -> Self {
        let code = match e.code {
            wit::ErrorCode::ReauthRequired => ErrorCode::ReauthRequired,
            wit::ErrorCode::MissingScopes => ErrorCode::MissingScopes,
            wit::ErrorCode::NotPermitted => ErrorCode::NotPermitted,
            wit::ErrorCode::ProviderUnavailable => ErrorCode::ProviderUnavailable,
            wit::ErrorCode::Denied => ErrorCode::Denied,
            wit::ErrorCode::Timeout => ErrorCode::Timeout,
            wit::ErrorCode::InvalidInput => ErrorCode::InvalidInput,
            wit::ErrorCode::TooLarge => ErrorCode::TooLarge,
            wit::ErrorCode::NotFound => ErrorCode::NotFound,
            wit::ErrorCode::Internal => ErrorCode::Internal,
        };
        Error {
            code,
            message: e.message,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::invalid_input(format!("invalid JSON: {e}"))
    }
}
