//! The HTTP transport of the OAuth flows: every token, refresh, client-credentials,
//! revocation and discovery request goes through the egress layer's host path
//! ([`Egress::send_host`]), so it passes the same address vetting as guest traffic
//! (operator CIDRs included), dials only vetted addresses, follows no redirect, reads at
//! most [`MAX_HOST_RESPONSE_BYTES`] of an answer (cut off unread past that) and is bounded
//! by a connect timeout and a total timeout. The `oauth2` crate builds the grant requests
//! (grant parameters, PKCE verifier, client authentication); the raw response (status,
//! `Retry-After`, body) is captured so that Keyway reads it through the manifest's token
//! paths and classifies failures itself.
//!
//! Owns: `OAuthHttp` and the capturing `oauth2::AsyncHttpClient`.
//! Must not: log request or response bodies or headers (they carry secrets), or reach the
//! network by any other path than the egress layer.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::egress::{
    Egress, EgressConfig, EgressError, EgressErrorCode, HostLimits, HostRequest, InboundResponse,
};

pub use crate::egress::MAX_HOST_RESPONSE_BYTES;

/// Shared HTTP client for token, revocation and discovery requests.
#[derive(Clone)]
pub struct OAuthHttp {
    egress: Arc<Egress>,
    limits: HostLimits,
}

impl std::fmt::Debug for OAuthHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthHttp")
            .field("egress", &self.egress)
            .field("limits", &self.limits)
            .finish()
    }
}

/// A failure to get a usable HTTP response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("request to {endpoint} timed out")]
    Timeout { endpoint: String },
    #[error("cannot reach {endpoint}: {reason}")]
    Network { endpoint: String, reason: String },
    /// The host's egress policy refused the request (an address or URL not allowed).
    #[error("request to {endpoint} refused: {reason}")]
    Refused { endpoint: String, reason: String },
    /// The answer passed a cap (body size, header size or count) and was cut off.
    #[error("answer from {endpoint} refused: {reason}")]
    TooLarge { endpoint: String, reason: String },
    #[error("invalid request: {0}")]
    Build(String),
    #[error("no response was received")]
    NoResponse,
}

impl TransportError {
    /// Whether retrying the same request later could succeed.
    pub(crate) fn is_transient(&self) -> bool {
        !matches!(
            self,
            TransportError::Refused { .. } | TransportError::TooLarge { .. }
        )
    }

    fn from_egress(err: EgressError, url: &Url) -> Self {
        let endpoint = endpoint_of(url);
        let reason = err.message;
        match err.code {
            EgressErrorCode::Timeout => TransportError::Timeout { endpoint },
            EgressErrorCode::TooLarge => TransportError::TooLarge { endpoint, reason },
            EgressErrorCode::Denied | EgressErrorCode::InvalidInput => {
                TransportError::Refused { endpoint, reason }
            }
            _ => TransportError::Network { endpoint, reason },
        }
    }
}

/// `scheme://host[:port]/path` of `url`: no userinfo, query or fragment.
pub(crate) fn endpoint_of(url: &Url) -> String {
    format!(
        "{}{}",
        url.origin().ascii_serialization(),
        if url.cannot_be_a_base() {
            ""
        } else {
            url.path()
        }
    )
}

/// What came back from the provider.
#[derive(Clone)]
pub struct RawResponse {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for RawResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawResponse")
            .field("status", &self.status)
            .field("retry_after", &self.retry_after)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Parses `Retry-After` given in seconds (HTTP dates are treated as absent).
pub(crate) fn parse_retry_after(value: Option<&http::HeaderValue>) -> Option<Duration> {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(n, v);
        }
    }
    map
}

impl RawResponse {
    fn from_inbound(resp: InboundResponse) -> (Self, HeaderMap) {
        let headers = header_map(&resp.headers);
        let raw = RawResponse {
            status: resp.status,
            retry_after: parse_retry_after(headers.get(http::header::RETRY_AFTER)),
            body: resp.body.to_vec(),
        };
        (raw, headers)
    }
}

impl OAuthHttp {
    /// OAuth requests through `egress` (shared with guest traffic), each bounded by
    /// `timeout` in total and by [`MAX_HOST_RESPONSE_BYTES`] of answer.
    pub fn new(egress: Arc<Egress>, timeout: Duration) -> Self {
        OAuthHttp {
            egress,
            limits: HostLimits::with_timeout(timeout),
        }
    }

    /// OAuth requests through an egress layer of their own built from `config` (its
    /// allowed CIDRs, resolver and TLS settings).
    pub fn from_config(config: &EgressConfig, timeout: Duration) -> Result<Self, TransportError> {
        let egress = Egress::new(config.clone()).map_err(|e| TransportError::Build(e.message))?;
        Ok(Self::new(Arc::new(egress), timeout))
    }

    /// Sends one request and reads the whole answer within the caps.
    pub(crate) async fn send(
        &self,
        method: http::Method,
        url: &Url,
        mut headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<(RawResponse, HeaderMap), TransportError> {
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("keyway/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(v) = headers.get_mut(http::header::AUTHORIZATION) {
            v.set_sensitive(true);
        }
        let request = HostRequest {
            method,
            url: url.clone(),
            headers,
            body: Bytes::from(body),
        };
        let response = self
            .egress
            .send_host(request, &self.limits)
            .await
            .map_err(|e| TransportError::from_egress(e, url))?;
        Ok(RawResponse::from_inbound(response))
    }

    /// Checks an endpoint named in discovery metadata: https, or http only to a loopback
    /// address the operator allowed. The error says why.
    pub(crate) async fn vet_discovered_endpoint(&self, url: &Url) -> Result<(), String> {
        self.egress
            .vet_discovered_endpoint(url)
            .await
            .map_err(|e| e.message)
    }

    pub(crate) fn capturing(&self) -> CapturingClient {
        CapturingClient {
            http: self.clone(),
            captured: Mutex::new(None),
        }
    }
}

/// An `oauth2` HTTP client that keeps the last raw response.
pub(crate) struct CapturingClient {
    http: OAuthHttp,
    captured: Mutex<Option<RawResponse>>,
}

impl CapturingClient {
    /// The captured response, or the transport failure reported through `oauth2`.
    pub(crate) fn outcome<T, RE>(
        self,
        result: Result<T, oauth2::RequestTokenError<TransportError, RE>>,
    ) -> Result<RawResponse, TransportError>
    where
        RE: oauth2::ErrorResponse + 'static,
    {
        if let Some(raw) = self
            .captured
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
        {
            return Ok(raw);
        }
        match result {
            Err(oauth2::RequestTokenError::Request(e)) => Err(e),
            Err(oauth2::RequestTokenError::Other(msg)) => Err(TransportError::Build(msg)),
            _ => Err(TransportError::NoResponse),
        }
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for CapturingClient {
    type Error = TransportError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let url = Url::parse(&parts.uri.to_string())
                .map_err(|e| TransportError::Build(format!("token request URL: {e}")))?;
            let (raw, headers) = self
                .http
                .send(parts.method, &url, parts.headers, body)
                .await?;
            let status = raw.status;
            let bytes = raw.body.clone();
            *self.captured.lock().unwrap_or_else(|p| p.into_inner()) = Some(raw);
            let mut builder = http::Response::builder().status(status);
            if let Some(h) = builder.headers_mut() {
                *h = headers;
            }
            builder
                .body(bytes)
                .map_err(|e| TransportError::Build(e.to_string()))
        })
    }
}
