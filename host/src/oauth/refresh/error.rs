//! [`TokenError`]: why the token manager handed out no token, and the WIT error code each
//! reason maps to.
//!
//! Owns: the error type and its codes.
//! Must not: carry a token, refresh token or client secret in any variant or message.

use std::time::Duration;

use super::source::ProviderError;
use crate::store::{ConnectionStatus, StoreError};

/// Why no token could be handed out. `code()` gives the WIT error code.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("connection `{connection}` must be authorized again: {reason}")]
    ReauthRequired { connection: String, reason: String },
    #[error("connection `{connection}` lacks required scopes: {}", missing.join(", "))]
    MissingScopes {
        connection: String,
        missing: Vec<String>,
    },
    #[error("the provider of connection `{connection}` is unavailable: {reason}")]
    ProviderUnavailable {
        connection: String,
        reason: String,
        retry_after: Option<Duration>,
    },
    #[error("connection `{connection}` is {status}, not connected")]
    NotConnected {
        connection: String,
        status: ConnectionStatus,
    },
    #[error("connection `{connection}` cannot refresh: {source}")]
    Config {
        connection: String,
        #[source]
        source: ProviderError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TokenError {
    /// The `keyway:connector/types.error-code` name for this error.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::ReauthRequired { .. } | TokenError::NotConnected { .. } => {
                "reauth-required"
            }
            TokenError::MissingScopes { .. } => "missing-scopes",
            TokenError::ProviderUnavailable { .. } => "provider-unavailable",
            TokenError::Config { .. } | TokenError::Store(_) => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_match_wit() {
        let e = TokenError::ProviderUnavailable {
            connection: "a".into(),
            reason: "HTTP 503".into(),
            retry_after: None,
        };
        assert_eq!(e.code(), "provider-unavailable");
        let e = TokenError::MissingScopes {
            connection: "a".into(),
            missing: vec!["x".into(), "y".into()],
        };
        assert!(e.to_string().contains("x, y"));
    }

    #[test]
    fn a_configuration_error_names_the_connection_and_keeps_its_source() {
        let e = TokenError::Config {
            connection: "crm".into(),
            source: ProviderError::NoOAuth {
                connector: "acme".into(),
            },
        };
        assert_eq!(e.code(), "internal");
        assert_eq!(
            e.to_string(),
            "connection `crm` cannot refresh: connector `acme` has no OAuth block"
        );
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("connector `acme` has no OAuth block")
        );
    }
}
