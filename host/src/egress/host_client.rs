//! Outbound HTTP for the host's own requests: OAuth token, refresh, client-credentials and
//! revocation calls and OIDC discovery.
//!
//! Owns [`Egress::send_host`] and [`Egress::vet_discovered_endpoint`]. A host request
//! takes the same path as a guest's after its allowlist check: the URL must be http or
//! https with no userinfo, the host is resolved and every address vetted by the same
//! [`AddressPolicy`](super::AddressPolicy) (operator CIDRs included), and the same
//! transport dials only those addresses, returns redirects instead of following them and
//! cuts the body off once it passes [`HostLimits::max_response_body_bytes`] (so an
//! oversized answer is never buffered). One timeout bounds the whole exchange, and the
//! transport's connect timeout each dial.
//!
//! It must not apply a connector's `permissions.http` allowlist (these URLs come from the
//! manifest's OAuth block or the issuer's metadata, not from a guest), add credentials
//! (the caller sets its own headers), or put header values or bodies into errors.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use url::Url;

use super::error::EgressError;
use super::limits::EgressLimits;
use super::policy::{FnPolicy, check_url, origin_of};
use super::resolve::resolve_vetted;
use super::transport::{AddressVetting, InboundResponse, PreparedRequest, Target};
use super::{Egress, headers};

/// The largest answer the host reads from an authorization server. Token, revocation and
/// discovery answers are a few KiB; anything past this is cut off unread.
pub const MAX_HOST_RESPONSE_BYTES: usize = 1024 * 1024;

/// The longest URL the host will send a request of its own to.
const MAX_HOST_URL_BYTES: usize = 8 * 1024;

/// A request the host sends on its own behalf.
pub(crate) struct HostRequest {
    /// HTTP method.
    pub method: Method,
    /// Where to send it.
    pub url: Url,
    /// Headers to send (`Host` is set from the URL).
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
}

impl std::fmt::Debug for HostRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.keys().map(|k| k.as_str()).collect();
        f.debug_struct("HostRequest")
            .field("method", &self.method)
            .field("origin", &origin_of(&self.url))
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Caps on one host request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostLimits {
    /// Response body bytes; the body is cut off with `too_large` once past this.
    pub max_response_body_bytes: usize,
    /// The whole exchange: resolution, connecting, sending and reading the answer.
    pub timeout: Duration,
}

impl HostLimits {
    /// [`MAX_HOST_RESPONSE_BYTES`] and the given total timeout.
    pub(crate) fn with_timeout(timeout: Duration) -> Self {
        Self {
            max_response_body_bytes: MAX_HOST_RESPONSE_BYTES,
            timeout,
        }
    }
}

impl Egress {
    /// Sends a request of the host's own through the address policy, resolver and
    /// transport guest traffic uses. See the module documentation.
    pub(crate) async fn send_host(
        &self,
        req: HostRequest,
        limits: &HostLimits,
    ) -> Result<InboundResponse, EgressError> {
        let origin = origin_of(&req.url);
        match tokio::time::timeout(limits.timeout, self.send_host_within(req, limits)).await {
            Ok(result) => result,
            Err(_) => Err(EgressError::timeout(format!(
                "no complete response from {origin} within {} ms",
                limits.timeout.as_millis()
            ))),
        }
    }

    async fn send_host_within(
        &self,
        req: HostRequest,
        limits: &HostLimits,
    ) -> Result<InboundResponse, EgressError> {
        let admit_any = FnPolicy(|_: &Url| true);
        let url = check_url(req.url.as_str(), &admit_any, MAX_HOST_URL_BYTES)?;
        let mut headers = req.headers;
        headers.insert(http::header::HOST, headers::host_header(&url)?);
        let target = match self.transport.address_vetting() {
            AddressVetting::Enforced => {
                Target::Vetted(resolve_vetted(&url, &self.addresses, self.resolver.as_ref()).await?)
            }
            AddressVetting::SkippedForMock => Target::Unresolved,
        };
        let caps = EgressLimits {
            max_response_body_bytes: limits.max_response_body_bytes,
            ..EgressLimits::default()
        };
        let prepared = PreparedRequest {
            method: req.method,
            url,
            headers,
            body: req.body,
            target,
        };
        let response = self.transport.send(prepared, &caps).await?;
        // Applied again to whatever the transport returned (a mock included).
        if response.body.len() > caps.max_response_body_bytes {
            return Err(caps.body_too_large());
        }
        Ok(response)
    }

    /// Whether an endpoint an issuer's discovery metadata names may be used: https, or
    /// plain http only to loopback addresses the operator allowed (a local test provider).
    /// The error says why, without the field name (the caller adds it).
    pub(crate) async fn vet_discovered_endpoint(&self, url: &Url) -> Result<(), EgressError> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EgressError::denied("it carries userinfo (`user@`)"));
        }
        match url.scheme() {
            "https" if url.host().is_some() => Ok(()),
            "https" => Err(EgressError::invalid("it has no host")),
            "http" => {
                let addrs = resolve_vetted(url, &self.addresses, self.resolver.as_ref())
                    .await
                    .map_err(|e| {
                        EgressError::new(
                            e.code,
                            format!(
                                "plain http is allowed only to a loopback address the operator \
                                 allowed, and {}",
                                e.message
                            ),
                        )
                    })?;
                if let Some(other) = addrs.iter().find(|a| !a.ip().to_canonical().is_loopback()) {
                    return Err(EgressError::denied(format!(
                        "it is plain http to {}, which is not a loopback address ({}); use https",
                        origin_of(url),
                        other.ip()
                    )));
                }
                Ok(())
            }
            other => Err(EgressError::denied(format!(
                "scheme `{other}` is not allowed; endpoints must be https"
            ))),
        }
    }
}
