//! Errors of the egress layer and their stable codes.
//!
//! Owns [`EgressError`] (a code the guest can branch on plus a message naming what went
//! wrong) and the errors of the seams egress depends on ([`TokenError`], [`SecretError`]).
//! Codes map one to one onto the WIT `error-code` enum; the import glue converts.
//!
//! It must not put secret values into messages: messages are built from names, origins
//! and codes only, and [`crate::egress::Egress::send`] still runs every message through
//! the invocation's redactor before it leaves.

use std::fmt;

/// Stable error codes, one per WIT `error-code` case that egress can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EgressErrorCode {
    /// The connection must be authorized again by a person.
    ReauthRequired,
    /// The grant lacks scopes the connector requires.
    MissingScopes,
    /// The manifest or host mode does not allow this (for example no OAuth block).
    NotPermitted,
    /// The provider or the network did not answer usefully.
    ProviderUnavailable,
    /// The URL or the resolved address is outside what is allowed.
    Denied,
    /// The request ran out of time.
    Timeout,
    /// The request is malformed; the message says which part.
    InvalidInput,
    /// A size or count cap was exceeded; the message names the cap.
    TooLarge,
    /// A named secret setting does not exist.
    NotFound,
    /// The host failed for a reason of its own.
    Internal,
}

impl EgressErrorCode {
    /// The snake_case spelling used in records and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReauthRequired => "reauth_required",
            Self::MissingScopes => "missing_scopes",
            Self::NotPermitted => "not_permitted",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::Denied => "denied",
            Self::Timeout => "timeout",
            Self::InvalidInput => "invalid_input",
            Self::TooLarge => "too_large",
            Self::NotFound => "not_found",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for EgressErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An outbound call that did not produce a response for the guest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct EgressError {
    /// What kind of failure, stable for the guest to branch on.
    pub code: EgressErrorCode,
    /// Human-readable detail naming what is wrong and where.
    pub message: String,
}

impl EgressError {
    /// An error with a code and a message.
    pub fn new(code: EgressErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn denied(message: impl Into<String>) -> Self {
        Self::new(EgressErrorCode::Denied, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(EgressErrorCode::InvalidInput, message)
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(EgressErrorCode::TooLarge, message)
    }

    pub(crate) fn network(message: impl Into<String>) -> Self {
        Self::new(EgressErrorCode::ProviderUnavailable, message)
    }

    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        Self::new(EgressErrorCode::Timeout, message)
    }
}

/// Stable codes a [`crate::egress::TokenSource`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenErrorCode {
    /// The grant is gone (`invalid_grant`-class answer); a person must authorize again.
    ReauthRequired,
    /// The grant lacks scopes the connector requires.
    MissingScopes,
    /// The token endpoint did not answer usefully; try again later.
    ProviderUnavailable,
    /// The connector has no OAuth configuration to draw a token from.
    NotPermitted,
    /// The token store failed.
    Internal,
}

/// Why no access token could be produced. The message must not contain a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TokenError {
    /// Stable code.
    pub code: TokenErrorCode,
    /// Detail for the guest and the logs.
    pub message: String,
}

impl TokenError {
    /// A token error with a code and a message.
    pub fn new(code: TokenErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<TokenError> for EgressError {
    fn from(err: TokenError) -> Self {
        let code = match err.code {
            TokenErrorCode::ReauthRequired => EgressErrorCode::ReauthRequired,
            TokenErrorCode::MissingScopes => EgressErrorCode::MissingScopes,
            TokenErrorCode::ProviderUnavailable => EgressErrorCode::ProviderUnavailable,
            TokenErrorCode::NotPermitted => EgressErrorCode::NotPermitted,
            TokenErrorCode::Internal => EgressErrorCode::Internal,
        };
        EgressError::new(code, format!("oauth token: {}", err.message))
    }
}

/// Why a secret setting named for `bearer` or `basic` auth could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No secret setting of that name is stored for the connection.
    #[error("secret setting `{0}` is not set for this connection")]
    NotFound(String),
    /// The manifest does not grant the connector use of that secret setting.
    #[error("secret setting `{0}` is not granted to this connector")]
    NotPermitted(String),
    /// The store failed; the message must not contain the value.
    #[error("secret setting `{name}` could not be read: {reason}")]
    Unavailable {
        /// Name of the secret setting.
        name: String,
        /// What failed.
        reason: String,
    },
}

impl From<SecretError> for EgressError {
    fn from(err: SecretError) -> Self {
        let code = match &err {
            SecretError::NotFound(_) => EgressErrorCode::NotFound,
            SecretError::NotPermitted(_) => EgressErrorCode::NotPermitted,
            SecretError::Unavailable { .. } => EgressErrorCode::Internal,
        };
        EgressError::new(code, err.to_string())
    }
}
