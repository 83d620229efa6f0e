//! The HTTP transport of the OAuth flows: a `reqwest` client (rustls, no redirects followed,
//! bounded timeouts) plugged into the `oauth2` crate, which builds the token, refresh and
//! revocation requests (grant parameters, PKCE verifier, client authentication). The raw
//! response (status, `Retry-After`, body) is captured so that Keyway reads it through the
//! manifest's token paths and classifies failures itself.
//!
//! Owns: `OAuthHttp` and the capturing `oauth2::AsyncHttpClient`.
//! Must not: log request or response bodies or headers (they carry secrets).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

/// Shared HTTP client for token, revocation and discovery requests.
#[derive(Clone, Debug)]
pub struct OAuthHttp {
    client: reqwest::Client,
}

/// A failure to get any HTTP response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("request to {endpoint} timed out")]
    Timeout { endpoint: String },
    #[error("cannot reach {endpoint}: {reason}")]
    Network { endpoint: String, reason: String },
    #[error("invalid request: {0}")]
    Build(String),
    #[error("no response was received")]
    NoResponse,
}

impl TransportError {
    fn from_reqwest(err: &reqwest::Error, endpoint: &str) -> Self {
        if err.is_timeout() {
            return TransportError::Timeout {
                endpoint: endpoint.to_string(),
            };
        }
        TransportError::Network {
            endpoint: endpoint.to_string(),
            reason: if err.is_connect() {
                "connection failed".to_string()
            } else {
                "request failed".to_string()
            },
        }
    }
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
pub fn parse_retry_after(value: Option<&http::HeaderValue>) -> Option<Duration> {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

impl OAuthHttp {
    /// A client with the given per-request timeout.
    pub fn new(timeout: Duration) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("keyway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::Build(e.to_string()))?;
        Ok(OAuthHttp { client })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub(crate) fn capturing(&self) -> CapturingClient {
        CapturingClient {
            client: self.client.clone(),
            captured: Mutex::new(None),
        }
    }
}

/// An `oauth2` HTTP client that keeps the last raw response.
pub(crate) struct CapturingClient {
    client: reqwest::Client,
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
            let endpoint = {
                let uri = &parts.uri;
                format!(
                    "{}://{}{}",
                    uri.scheme_str().unwrap_or("http"),
                    uri.authority().map(|a| a.as_str()).unwrap_or(""),
                    uri.path()
                )
            };
            let url = reqwest::Url::parse(&parts.uri.to_string())
                .map_err(|e| TransportError::Build(e.to_string()))?;
            let response = self
                .client
                .request(parts.method, url)
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| TransportError::from_reqwest(&e, &endpoint))?;
            let status = response.status();
            let headers = response.headers().clone();
            let retry_after = parse_retry_after(headers.get(http::header::RETRY_AFTER));
            let bytes = response
                .bytes()
                .await
                .map_err(|e| TransportError::from_reqwest(&e, &endpoint))?
                .to_vec();
            *self.captured.lock().unwrap_or_else(|p| p.into_inner()) = Some(RawResponse {
                status: status.as_u16(),
                retry_after,
                body: bytes.clone(),
            });
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
