//! The network transport: HTTP/1.1 over TCP or TLS to vetted addresses, with a
//! keep-alive pool.
//!
//! Owns [`NetworkTransport`]. It dials only the addresses in [`Target::Vetted`] (never
//! the host name again), speaks TLS with rustls and the Mozilla root set (or a
//! configured client config) using the URL's host for SNI and verification, reuses idle
//! connections per (scheme, host, port), streams the response body and stops reading
//! as soon as the body cap is passed. Redirects are returned, never followed.
//!
//! It must not check permissions, resolve names or add credentials, and it must not put
//! header values or bodies into error messages.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::{Host, Position, Url};

use super::error::EgressError;
use super::limits::EgressLimits;
use super::policy::origin_of;
use super::transport::{InboundResponse, PreparedRequest, Target, Transport, header_pairs};
use crate::types::BoxFuture;

type Sender = SendRequest<Full<Bytes>>;

/// Pool and dialing settings of the network transport.
#[derive(Debug, Clone)]
pub struct NetworkSettings {
    /// Time allowed to open one TCP connection (per address tried).
    pub connect_timeout: Duration,
    /// Idle connections kept per (scheme, host, port).
    pub max_idle_per_host: usize,
    /// Idle connections older than this are closed instead of reused.
    pub idle_timeout: Duration,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            max_idle_per_host: 8,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    tls: bool,
    host: String,
    port: u16,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

/// Sends requests over the network to vetted addresses.
pub(crate) struct NetworkTransport {
    settings: NetworkSettings,
    tls: TlsConnector,
    idle: Mutex<HashMap<PoolKey, Vec<Idle>>>,
}

impl std::fmt::Debug for NetworkTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkTransport")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The default TLS client configuration: ring, safe protocol versions, Mozilla roots,
/// HTTP/1.1 by ALPN.
pub(crate) fn default_tls_config() -> Result<Arc<rustls::ClientConfig>, EgressError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| {
            EgressError::new(
                super::EgressErrorCode::Internal,
                format!("tls setup: {err}"),
            )
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl NetworkTransport {
    /// A transport with the given TLS configuration and pool settings.
    pub fn new(tls: Arc<rustls::ClientConfig>, settings: NetworkSettings) -> Self {
        Self {
            settings,
            tls: TlsConnector::from(tls),
            idle: Mutex::new(HashMap::new()),
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, HashMap<PoolKey, Vec<Idle>>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn checkout(&self, key: &PoolKey) -> Option<Sender> {
        let mut idle = self.lock_idle();
        let list = idle.get_mut(key)?;
        while let Some(entry) = list.pop() {
            if !entry.sender.is_closed()
                && entry.sender.is_ready()
                && entry.since.elapsed() < self.settings.idle_timeout
            {
                return Some(entry.sender);
            }
        }
        None
    }

    fn checkin(&self, key: PoolKey, sender: Sender) {
        if sender.is_closed() || self.settings.max_idle_per_host == 0 {
            return;
        }
        let mut idle = self.lock_idle();
        let list = idle.entry(key).or_default();
        list.retain(|e| !e.sender.is_closed() && e.since.elapsed() < self.settings.idle_timeout);
        if list.len() < self.settings.max_idle_per_host {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    async fn dial(&self, url: &Url, addrs: &[SocketAddr]) -> Result<Sender, EgressError> {
        let origin = origin_of(url);
        let mut last_error = String::from("no address to connect to");
        let mut stream = None;
        for addr in addrs {
            match tokio::time::timeout(self.settings.connect_timeout, TcpStream::connect(addr))
                .await
            {
                Ok(Ok(s)) => {
                    stream = Some(s);
                    break;
                }
                Ok(Err(err)) => last_error = format!("{addr}: {err}"),
                Err(_) => last_error = format!("{addr}: connect timed out"),
            }
        }
        let stream = stream.ok_or_else(|| {
            EgressError::network(format!("could not connect to {origin} ({last_error})"))
        })?;
        // Latency matters more than packet count for request/response traffic; a
        // failure here only costs a little latency.
        let _ = stream.set_nodelay(true);
        let handshake_error = |err: hyper::Error| {
            EgressError::network(format!("http handshake with {origin} failed: {err}"))
        };
        if url.scheme() == "https" {
            let server_name = server_name(url)?;
            let tls = self.tls.connect(server_name, stream).await.map_err(|err| {
                EgressError::network(format!("tls handshake with {origin} failed: {err}"))
            })?;
            let (sender, conn) = http1::handshake(TokioIo::new(tls))
                .await
                .map_err(handshake_error)?;
            tokio::spawn(conn);
            Ok(sender)
        } else {
            let (sender, conn) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(handshake_error)?;
            tokio::spawn(conn);
            Ok(sender)
        }
    }

    async fn exchange(
        &self,
        req: PreparedRequest,
        limits: &EgressLimits,
    ) -> Result<InboundResponse, EgressError> {
        let Target::Vetted(addrs) = &req.target else {
            return Err(EgressError::new(
                super::EgressErrorCode::Internal,
                "network transport got a request without vetted addresses",
            ));
        };
        let origin = origin_of(&req.url);
        let key = PoolKey {
            tls: req.url.scheme() == "https",
            host: req.url.host_str().unwrap_or_default().to_owned(),
            port: req.url.port_or_known_default().unwrap_or(0),
        };
        let path = &req.url[Position::BeforePath..Position::AfterQuery];
        let mut request = Request::builder()
            .method(req.method.clone())
            .uri(path)
            .body(Full::new(req.body.clone()))
            .map_err(|_| EgressError::invalid("url path is not valid in an HTTP request line"))?;
        *request.headers_mut() = req.headers;

        let (mut sender, reused) = match self.checkout(&key) {
            Some(sender) => (sender, true),
            None => (self.dial(&req.url, addrs).await?, false),
        };
        let response = match sender.try_send_request(request).await {
            Ok(response) => response,
            Err(mut err) => match err.take_message() {
                // A pooled connection closed before our request was written: the
                // request never left, so sending it on a fresh connection is safe.
                Some(request) if reused => {
                    sender = self.dial(&req.url, addrs).await?;
                    sender
                        .try_send_request(request)
                        .await
                        .map_err(|e| map_hyper(e.error(), &origin))?
                }
                _ => return Err(map_hyper(err.error(), &origin)),
            },
        };

        let (parts, mut body) = response.into_parts();
        limits.check_response_headers(&parts.headers)?;
        // A declared length past the cap fails at once instead of after the download.
        if body.size_hint().lower() > limits.max_response_body_bytes as u64 {
            return Err(limits.body_too_large());
        }
        let mut collected = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| {
                EgressError::network(format!(
                    "reading the response body from {origin} failed: {err}"
                ))
            })?;
            if let Ok(data) = frame.into_data() {
                if collected.len() + data.len() > limits.max_response_body_bytes {
                    // Dropping the body and the sender closes this connection.
                    return Err(limits.body_too_large());
                }
                collected.extend_from_slice(&data);
            }
        }
        self.checkin(key, sender);
        Ok(InboundResponse {
            status: parts.status.as_u16(),
            headers: header_pairs(&parts.headers),
            body: collected.freeze(),
        })
    }
}

fn server_name(url: &Url) -> Result<ServerName<'static>, EgressError> {
    match url.host() {
        Some(Host::Domain(name)) => ServerName::try_from(name.to_owned())
            .map_err(|_| EgressError::invalid(format!("`{name}` is not a valid TLS server name"))),
        Some(Host::Ipv4(ip)) => Ok(ServerName::IpAddress(std::net::IpAddr::V4(ip).into())),
        Some(Host::Ipv6(ip)) => Ok(ServerName::IpAddress(std::net::IpAddr::V6(ip).into())),
        None => Err(EgressError::invalid("url has no host")),
    }
}

fn map_hyper(err: &hyper::Error, origin: &str) -> EgressError {
    // hyper exposes the "head too large" kind only with its server feature; its
    // message is stable, so recognise it by text.
    if err.is_parse() && err.to_string().contains("too large") {
        EgressError::too_large(format!("response head from {origin} is too large"))
    } else {
        EgressError::network(format!("request to {origin} failed: {err}"))
    }
}

impl Transport for NetworkTransport {
    fn send<'a>(
        &'a self,
        req: PreparedRequest,
        limits: &'a EgressLimits,
    ) -> BoxFuture<'a, Result<InboundResponse, EgressError>> {
        Box::pin(self.exchange(req, limits))
    }
}
