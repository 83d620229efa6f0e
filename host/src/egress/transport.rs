//! The seam between a checked, credentialed request and whatever carries it.
//!
//! Owns [`Transport`], [`PreparedRequest`] and [`InboundResponse`]. The network
//! transport (`client`) is the production implementation; a connector test runtime can
//! put a mock provider behind the same trait while URL policy, injection, limits and
//! redaction stay the real ones. Only a transport that declares
//! [`AddressVetting::SkippedForMock`] receives a request whose addresses were not
//! resolved and vetted.
//!
//! It must not check permissions or add credentials: a request reaching a transport is
//! already allowed and already carries its injected header.

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method};
use url::Url;

use super::error::EgressError;
use super::limits::EgressLimits;
use crate::types::BoxFuture;

/// Where a prepared request may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Resolved and vetted socket addresses; the transport dials only these.
    Vetted(Vec<SocketAddr>),
    /// Not resolved: only for a transport that never opens a socket (a mock).
    Unresolved,
}

/// Whether `Egress` must resolve and vet addresses before handing a request over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressVetting {
    /// Resolve the host and vet every address (the network transport).
    Enforced,
    /// Skip resolution: the transport is a mock that opens no socket.
    SkippedForMock,
}

/// A request that passed every check and carries its injected credential.
pub struct PreparedRequest {
    /// HTTP method.
    pub method: Method,
    /// The checked URL (no userinfo, no fragment).
    pub url: Url,
    /// Headers to send, `Host` included; the injected one is marked sensitive.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
    /// Where to connect.
    pub target: Target,
}

impl fmt::Debug for PreparedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.keys().map(|k| k.as_str()).collect();
        f.debug_struct("PreparedRequest")
            .field("method", &self.method)
            .field("origin", &self.url.origin().ascii_serialization())
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .field("target", &self.target)
            .finish()
    }
}

/// What came back, handed to the guest as-is (redirects included).
#[derive(Clone, PartialEq, Eq)]
pub struct InboundResponse {
    /// Status code.
    pub status: u16,
    /// Header fields in received order; non-UTF-8 values are converted lossily.
    pub headers: Vec<(String, String)>,
    /// The whole body, within the body cap.
    pub body: Bytes,
}

impl fmt::Debug for InboundResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("InboundResponse")
            .field("status", &self.status)
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Carries a prepared request to a provider and reads the whole response.
pub trait Transport: Send + Sync {
    /// Whether requests must be resolved and vetted first. Only a mock may skip it.
    fn address_vetting(&self) -> AddressVetting {
        AddressVetting::Enforced
    }

    /// Sends `req` and reads the response within `limits` (body cut off with
    /// `too_large` once past the cap). Redirects are returned, never followed. The
    /// caller applies the timeout by dropping this future.
    fn send<'a>(
        &'a self,
        req: PreparedRequest,
        limits: &'a EgressLimits,
    ) -> BoxFuture<'a, Result<InboundResponse, EgressError>>;
}

/// Converts an `http` header map to the guest's list of pairs.
pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
