//! Classification of token-endpoint answers: success, a grant the provider will no longer
//! honour (re-authorization needed), a transient failure worth retrying, or a request the
//! provider rejects for another reason.
//!
//! Owns: the mapping from (status, OAuth `error`, transport failure) to `Failure`.
//! Invariant: only `invalid_grant`, `invalid_client` and `unauthorized_client` mean the
//! grant is gone; 5xx, 429, timeouts, network errors and the host's own refusals (egress
//! policy, size caps) are never treated as revocation.
//! Must not: copy response bodies into messages beyond the provider's clipped
//! `error`/`error_description`.

use std::time::Duration;

use super::http::{RawResponse, TransportError};
use super::provider::{ProviderConfig, TokenResponseError, TokenSet};

/// Why a token request did not produce tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The grant is gone; the connection must be re-authorized.
    GrantRevoked {
        error: String,
        description: Option<String>,
    },
    /// Worth retrying later (5xx, 429, timeout, network).
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The provider rejected the request for another reason (bad configuration, bad scope).
    Rejected {
        status: u16,
        error: Option<String>,
        description: Option<String>,
    },
    /// A 2xx answer that does not match the token paths.
    Malformed(TokenResponseError),
    /// The host refused the exchange: the endpoint's address is not allowed by the egress
    /// policy, or the answer passed a cap. Retrying the same request cannot help.
    Refused { reason: String },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::GrantRevoked { error, description } => {
                write!(f, "provider answered {error}")?;
                if let Some(d) = description {
                    write!(f, ": {d}")?;
                }
                Ok(())
            }
            Failure::Transient { reason, .. } => write!(f, "provider unavailable: {reason}"),
            Failure::Rejected {
                status,
                error,
                description,
            } => {
                write!(f, "provider rejected the request (HTTP {status}")?;
                if let Some(e) = error {
                    write!(f, ", {e}")?;
                }
                write!(f, ")")?;
                if let Some(d) = description {
                    write!(f, ": {d}")?;
                }
                Ok(())
            }
            Failure::Malformed(e) => write!(f, "{e}"),
            Failure::Refused { reason } => write!(f, "{reason}"),
        }
    }
}

/// Keeps provider-supplied text short and printable.
pub fn clean_text(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    cleaned.trim().to_string()
}

fn oauth_error(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let get = |k: &str| value.get(k).and_then(|v| v.as_str()).map(clean_text);
    (get("error"), get("error_description"))
}

/// Classifies a token endpoint response.
pub fn classify_response(
    provider: &ProviderConfig,
    raw: &RawResponse,
) -> Result<TokenSet, Failure> {
    match raw.status {
        200..=299 => provider
            .parse_token_response(&raw.body)
            .map_err(Failure::Malformed),
        429 | 500..=599 => Err(Failure::Transient {
            reason: format!("HTTP {}", raw.status),
            retry_after: raw.retry_after,
        }),
        status => {
            let (error, description) = oauth_error(&raw.body);
            match error.as_deref() {
                Some("invalid_grant" | "invalid_client" | "unauthorized_client") => {
                    Err(Failure::GrantRevoked {
                        error: error.unwrap_or_default(),
                        description,
                    })
                }
                Some("temporarily_unavailable" | "server_error") => Err(Failure::Transient {
                    reason: format!("HTTP {status}, {}", error.unwrap_or_default()),
                    retry_after: raw.retry_after,
                }),
                _ => Err(Failure::Rejected {
                    status,
                    error,
                    description,
                }),
            }
        }
    }
}

/// A request that got no response is transient, unless the host itself refused it (an
/// address the egress policy does not allow, an answer past a cap).
pub(crate) fn classify_transport(err: &TransportError) -> Failure {
    if !err.is_transient() {
        return Failure::Refused {
            reason: err.to_string(),
        };
    }
    Failure::Transient {
        reason: err.to_string(),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::provider::GrantType;

    fn raw(status: u16, body: &str) -> RawResponse {
        RawResponse {
            status,
            retry_after: Some(Duration::from_secs(7)),
            body: body.as_bytes().to_vec(),
        }
    }

    fn p() -> ProviderConfig {
        ProviderConfig::new(
            GrantType::AuthorizationCode,
            url::Url::parse("https://x.test/token").unwrap(),
        )
    }

    #[test]
    fn revocation_class_errors() {
        for e in ["invalid_grant", "invalid_client", "unauthorized_client"] {
            let body = format!(r#"{{"error":"{e}","error_description":"grant gone"}}"#);
            assert!(matches!(
                classify_response(&p(), &raw(400, &body)),
                Err(Failure::GrantRevoked { .. })
            ));
        }
    }

    #[test]
    fn outages_are_transient_with_retry_after() {
        for status in [429, 500, 502, 503] {
            assert_eq!(
                classify_response(&p(), &raw(status, "oops")).unwrap_err(),
                Failure::Transient {
                    reason: format!("HTTP {status}"),
                    retry_after: Some(Duration::from_secs(7))
                }
            );
        }
        // Even a 503 that says invalid_grant is an outage, not a revocation.
        assert!(matches!(
            classify_response(&p(), &raw(503, r#"{"error":"invalid_grant"}"#)),
            Err(Failure::Transient { .. })
        ));
    }

    #[test]
    fn other_rejections_and_malformed() {
        assert!(matches!(
            classify_response(&p(), &raw(400, r#"{"error":"invalid_scope"}"#)),
            Err(Failure::Rejected { status: 400, .. })
        ));
        assert!(matches!(
            classify_response(&p(), &raw(200, "{}")),
            Err(Failure::Malformed(_))
        ));
        assert!(classify_response(&p(), &raw(200, r#"{"access_token":"a"}"#)).is_ok());
    }
}
