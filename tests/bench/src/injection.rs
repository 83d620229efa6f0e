//! The pieces of an outbound call with host-side OAuth injection to one loopback server,
//! shared by the sections that time one: a token source that always has the same token,
//! an egress that admits loopback, the URL policy and injection rule for that server, and
//! the baseline (a direct hyper GET on one kept-alive connection, with the same header).
//!
//! It builds what the host's public API offers; it must not reach into the host's
//! internals or time anything itself.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use keyway_host::egress::{
    Bindings, Egress, EgressConfig, FnPolicy, InjectFormat, InjectRule, TokenError, TokenSource,
};
use keyway_host::types::BoxFuture;
use std::net::SocketAddr;
use std::sync::Arc;

/// The access token every source here hands out.
pub const TOKEN: &str = "bench-access-token-0123456789abcdef";

/// A token source that always has [`TOKEN`], fresh.
pub struct FixedToken;

impl TokenSource for FixedToken {
    fn token(&self, _min_ttl: std::time::Duration) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async { Ok(TOKEN.to_string()) })
    }
    fn force_refresh(&self) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async { Ok(TOKEN.to_string()) })
    }
}

/// An egress that admits `127.0.0.1` (refused by default, as every private address is).
pub fn loopback_egress() -> anyhow::Result<Egress> {
    Ok(Egress::new(EgressConfig {
        allowed_cidrs: vec!["127.0.0.1/32".parse()?],
        ..EgressConfig::default()
    })?)
}

/// The allowlist a manifest's `permissions.http` would give for the server at `addr`.
pub fn server_policy(addr: SocketAddr) -> FnPolicy<impl Fn(&url::Url) -> bool + Send + Sync> {
    let port = addr.port();
    FnPolicy(move |u: &url::Url| u.host_str() == Some("127.0.0.1") && u.port() == Some(port))
}

/// One OAuth injection rule (`Authorization: Bearer <token>`) admitting every URL the
/// policy lets through.
pub fn oauth_bindings() -> Bindings {
    Bindings {
        oauth: vec![InjectRule {
            admits: Arc::new(FnPolicy(|_: &url::Url| true)),
            describe: "bench rule".into(),
            header: hyper::header::AUTHORIZATION,
            format: InjectFormat::Prefix("Bearer ".into()),
        }],
        ..Bindings::default()
    }
}

/// The baseline: GETs over one kept-alive hyper connection, carrying the bearer token the
/// egress would inject.
pub struct DirectClient {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    uri: hyper::Uri,
    host: String,
}

impl DirectClient {
    /// Connects to the server of `url` (an `http://` URL on loopback).
    pub async fn connect(url: &str) -> anyhow::Result<DirectClient> {
        let uri: hyper::Uri = url.parse().with_context(|| format!("parsing {url}"))?;
        let host = uri
            .authority()
            .map(|a| a.to_string())
            .context("the URL has no authority")?;
        let stream = tokio::net::TcpStream::connect(&host)
            .await
            .with_context(|| format!("connecting to {host}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(DirectClient { sender, uri, host })
    }

    /// One GET of the URL given at connect; its status and body.
    pub async fn get(&mut self) -> anyhow::Result<(u16, Bytes)> {
        let req = hyper::Request::get(self.uri.clone())
            .header("host", &self.host)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Empty::<Bytes>::new())?;
        let res = self.sender.send_request(req).await?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}
