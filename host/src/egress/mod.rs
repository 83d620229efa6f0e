//! Outbound HTTP for guests: the host side of the `http.send` import.
//!
//! Owns [`Egress`] (shared by all invocations; holds the address policy, the resolver
//! and the transport with its connection pool) and [`Egress::send`], which runs one
//! guest request through, in this order: the per-invocation request budget, the URL
//! check against the connector's allowlist ([`UrlPolicy`]), header and size checks,
//! DNS resolution and address vetting, and only then credential injection — and only
//! when one of the connection's [`Bindings`] rules admits the URL; the rule, not the
//! guest, names the header. A 401 on an OAuth request forces at most one token refresh
//! per invocation, and the retry happens only if the token changed. Redirects come back
//! to the guest as they are. The answer's headers and body are scrubbed of every
//! credential spelling injected into that request and of every secret the invocation's
//! [`Redactor`] knows before the guest sees them; injected values are also recorded in
//! [`InjectedValues`] for the redactor to learn. Every outcome is appended to the
//! invocation's [`CallLog`], and every error message is redacted.
//!
//! It must not know the manifest's or the store's types: those reach it through the
//! [`UrlPolicy`], [`TokenSource`] and [`SecretSource`] seams. The WIT conversion lives
//! in the import glue.

mod addr;
mod api;
mod client;
mod error;
mod headers;
mod host_client;
mod inject;
mod limits;
mod policy;
mod record;
mod resolve;
mod transport;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ipnet::IpNet;
use url::Url;

use crate::redact::{KeptRedactor, Redactor};
use crate::types::Method;

pub(crate) use addr::AddressPolicy;
pub use api::{ApiBase, resolve_api_path};
pub(crate) use client::NetworkSettings;
pub(crate) use client::NetworkTransport;
pub(crate) use client::default_tls_config;
pub use error::{EgressError, EgressErrorCode, SecretError, TokenError, TokenErrorCode};
pub(crate) use headers::is_host_controlled;
pub(crate) use host_client::HostLimits;
pub(crate) use host_client::HostRequest;
pub use host_client::MAX_HOST_RESPONSE_BYTES;
pub(crate) use inject::Credential;
pub(crate) use inject::shown_name;
pub use inject::{
    AppConnectionAuth, AppTokens, Auth, Bindings, InjectFormat, InjectRule, InjectedValues,
    NO_APP_TOKENS, NO_STORED_GRANT, NoSecrets, OAuthAuth, SecretSource, TokenDetails, TokenSource,
};
pub use limits::{EgressLimits, RequestCounter};
pub(crate) use policy::check_url;
pub use policy::{FnPolicy, UrlPolicy, origin_of};
pub use record::CallLog;
pub(crate) use record::CallRecord;
pub use resolve::Resolve;
pub(crate) use resolve::resolve_vetted;
pub use transport::{AddressVetting, InboundResponse, PreparedRequest, Target, Transport};

/// The guest's request, as raw as it arrived (mirrors the WIT `request` record).
#[derive(Clone)]
pub struct OutboundRequest {
    /// Method.
    pub method: Method,
    /// URL string, unchecked.
    pub url: String,
    /// Header pairs, unchecked.
    pub headers: Vec<(String, String)>,
    /// Body, if any.
    pub body: Option<Vec<u8>>,
    /// Requested timeout in milliseconds; default and cap come from [`EgressLimits`].
    pub timeout_ms: Option<u32>,
    /// Host-side authentication to add.
    pub auth: Auth,
}

impl std::fmt::Debug for OutboundRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OutboundRequest")
            .field("method", &self.method)
            .field("header_names", &names)
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .field("timeout_ms", &self.timeout_ms)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Operator configuration of the egress layer, fixed for the host's lifetime.
#[derive(Clone, Default)]
pub struct EgressConfig {
    /// CIDRs admitted despite the built-in refusals (tests allow `127.0.0.1/32`).
    pub allowed_cidrs: Vec<IpNet>,
    /// Pool and connect settings of the network transport.
    pub network: NetworkSettings,
    /// TLS client configuration; [`default_tls_config`] when `None`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Name resolver; the system resolver when `None`.
    pub resolver: Option<Arc<dyn Resolve>>,
}

impl std::fmt::Debug for EgressConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressConfig")
            .field("allowed_cidrs", &self.allowed_cidrs)
            .field("network", &self.network)
            .field("custom_tls", &self.tls.is_some())
            .field("custom_resolver", &self.resolver.is_some())
            .finish()
    }
}

/// Everything one invocation contributes to a send.
pub struct EgressContext<'a> {
    /// The connector's `permissions.http` allowlist.
    pub policy: &'a dyn UrlPolicy,
    /// The connection's OAuth tokens; `None` when the connector has no OAuth block.
    pub tokens: Option<&'a dyn TokenSource>,
    /// The app connections the manifest grants, by name.
    pub app_tokens: &'a AppTokens,
    /// The connection's injectable secret settings.
    pub secrets: &'a dyn SecretSource,
    /// Where each credential may be injected, and how.
    pub bindings: &'a Bindings,
    /// Every credential spelling injected during this invocation.
    pub injected: &'a InjectedValues,
    /// The connection's scrubber for the spellings it last injected, reused while they
    /// stay the same.
    pub scrubber: &'a KeptRedactor,
    /// Requests used so far by this invocation.
    pub counter: &'a RequestCounter,
    /// Where each outbound call is recorded.
    pub calls: &'a CallLog,
    /// Caps for this invocation.
    pub limits: &'a EgressLimits,
    /// The invocation's secret values, removed from every error message and record.
    pub redactor: &'a Redactor,
}

/// The shared egress layer: address policy, resolver and transport (with its pool).
pub struct Egress {
    addresses: AddressPolicy,
    resolver: Arc<dyn Resolve>,
    transport: Arc<dyn Transport>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("addresses", &self.addresses)
            .field("address_vetting", &self.transport.address_vetting())
            .finish_non_exhaustive()
    }
}

impl Egress {
    /// Egress over the network with the given configuration.
    pub fn new(config: EgressConfig) -> Result<Self, EgressError> {
        let tls = match &config.tls {
            Some(tls) => Arc::clone(tls),
            None => default_tls_config()?,
        };
        let transport = Arc::new(NetworkTransport::new(tls, config.network.clone()));
        Ok(Self::with_transport(config, transport))
    }

    /// Egress over another transport (a mock provider in the connector test runtime).
    /// All checks stay; address vetting is skipped only if the transport says it is a
    /// mock.
    pub fn with_transport(config: EgressConfig, transport: Arc<dyn Transport>) -> Self {
        Self {
            addresses: AddressPolicy::new(config.allowed_cidrs),
            resolver: config.resolver.unwrap_or_else(resolve::system_resolver),
            transport,
        }
    }

    /// Sends one guest request. See the module documentation for the order of checks.
    pub async fn send(
        &self,
        req: OutboundRequest,
        ctx: &EgressContext<'_>,
    ) -> Result<InboundResponse, EgressError> {
        let method = req.method;
        let url_for_record = ctx.redactor.redact_string(&req.url);
        let mut seen_tokens: Vec<String> = Vec::new();
        let started = Instant::now();
        let recorded_before = ctx.calls.len();
        let result = self.send_checked(req, ctx, &mut seen_tokens).await;
        result.map_err(|mut err| {
            err.message = scrub(&err.message, ctx.redactor, &seen_tokens);
            if ctx.calls.len() == recorded_before {
                ctx.calls.push(CallRecord {
                    method,
                    url: url_for_record,
                    status: None,
                    error: Some(err.code),
                    duration: started.elapsed(),
                    retry: false,
                });
            }
            err
        })
    }

    async fn send_checked(
        &self,
        req: OutboundRequest,
        ctx: &EgressContext<'_>,
        seen_tokens: &mut Vec<String>,
    ) -> Result<InboundResponse, EgressError> {
        let limits = ctx.limits;
        ctx.counter.take(limits.max_requests_per_invocation)?;
        let url = check_url(&req.url, ctx.policy, limits.max_url_bytes)?;
        let timeout = limits.timeout_for(req.timeout_ms)?;
        let body = Bytes::from(req.body.unwrap_or_default());
        if body.len() > limits.max_request_body_bytes {
            return Err(EgressError::too_large(format!(
                "request body is {} bytes; the cap is {}",
                body.len(),
                limits.max_request_body_bytes
            )));
        }
        // The rule that binds the credential to this URL decides the header; none, no
        // injection (and no request: the guest asked for a credential it cannot have here).
        let rule = ctx.bindings.rule_for(&req.auth, &url)?;
        let injected_name = rule.map(|r| &r.header);
        let mut headers = headers::guest_headers(&req.headers, injected_name, limits)?;
        headers.insert(http::header::HOST, headers::host_header(&url)?);
        let target = match self.transport.address_vetting() {
            AddressVetting::Enforced => {
                let lookup = resolve_vetted(&url, &self.addresses, self.resolver.as_ref());
                let addrs = tokio::time::timeout(timeout, lookup).await.map_err(|_| {
                    EgressError::timeout(format!(
                        "resolving the host of {} took longer than {} ms",
                        origin_of(&url),
                        timeout.as_millis()
                    ))
                })??;
                Target::Vetted(addrs)
            }
            AddressVetting::SkippedForMock => Target::Unresolved,
        };

        // Every check passed: only now is a credential fetched and attached.
        let attempt = Attempt {
            method: req.method,
            url: &url,
            headers: &headers,
            body: &body,
            target: &target,
            timeout,
        };
        let Some(rule) = rule else {
            let first = self.attempt(&attempt, None, ctx, false).await?;
            return Ok(scrub_response(first, ctx, seen_tokens));
        };
        let credential = inject::credential(
            &req.auth,
            rule,
            ctx.tokens,
            ctx.app_tokens,
            ctx.secrets,
            None,
        )
        .await?;
        let used_token = credential.token.clone();
        remember(&credential, ctx, seen_tokens);
        let first = self.attempt(&attempt, Some(credential), ctx, false).await?;
        // One forced refresh per invocation at most: a route that keeps hitting 401s
        // cannot turn each into a refresh at the provider.
        if first.status != 401
            || req.auth.token_ttl().is_none()
            || !ctx.counter.take_forced_refresh()
        {
            return Ok(scrub_response(first, ctx, seen_tokens));
        }
        let fresh = inject::force_refresh(&req.auth, ctx.tokens, ctx.app_tokens).await?;
        if used_token.as_deref() == Some(fresh.as_str()) {
            // The source declined to refresh (it just did): retrying would repeat the 401.
            return Ok(scrub_response(first, ctx, seen_tokens));
        }
        let credential = inject::credential(
            &req.auth,
            rule,
            ctx.tokens,
            ctx.app_tokens,
            ctx.secrets,
            Some(&fresh),
        )
        .await?;
        remember(&credential, ctx, seen_tokens);
        let retried = self.attempt(&attempt, Some(credential), ctx, true).await?;
        Ok(scrub_response(retried, ctx, seen_tokens))
    }

    async fn attempt(
        &self,
        a: &Attempt<'_>,
        credential: Option<Credential>,
        ctx: &EgressContext<'_>,
        retry: bool,
    ) -> Result<InboundResponse, EgressError> {
        let mut headers = a.headers.clone();
        if let Some(c) = credential {
            headers.insert(c.name, c.value);
        }
        let prepared = PreparedRequest {
            method: a.method.to_http(),
            url: a.url.clone(),
            headers,
            body: a.body.clone(),
            target: a.target.clone(),
        };
        let started = Instant::now();
        let outcome = match tokio::time::timeout(
            a.timeout,
            self.transport.send(prepared, ctx.limits),
        )
        .await
        {
            Ok(result) => result.and_then(|resp| check_response(resp, ctx.limits)),
            Err(_) => Err(EgressError::timeout(format!(
                "no complete response from {} within {} ms",
                origin_of(a.url),
                a.timeout.as_millis()
            ))),
        };
        ctx.calls.push(CallRecord {
            method: a.method,
            url: ctx.redactor.redact_string(a.url.as_str()),
            status: outcome.as_ref().ok().map(|r| r.status),
            error: outcome.as_ref().err().map(|e| e.code),
            duration: started.elapsed(),
            retry,
        });
        outcome
    }
}

/// The parts of a checked request shared by the first attempt and the retry.
struct Attempt<'a> {
    method: Method,
    url: &'a Url,
    headers: &'a http::HeaderMap,
    body: &'a Bytes,
    target: &'a Target,
    timeout: Duration,
}

/// Applies the caps again to whatever the transport returned (a mock included).
fn check_response(
    resp: InboundResponse,
    limits: &EgressLimits,
) -> Result<InboundResponse, EgressError> {
    if resp.body.len() > limits.max_response_body_bytes {
        return Err(limits.body_too_large());
    }
    if resp.headers.len() > limits.max_response_headers {
        return Err(EgressError::too_large(format!(
            "response has {} header fields; the cap is {}",
            resp.headers.len(),
            limits.max_response_headers
        )));
    }
    Ok(resp)
}

/// Keeps every spelling of an injected credential: for this send's scrubbing and for
/// the invocation's redactor.
fn remember(credential: &Credential, ctx: &EgressContext<'_>, seen: &mut Vec<String>) {
    ctx.injected.record(&credential.spellings);
    for s in &credential.spellings {
        if !seen.contains(s) {
            seen.push(s.clone());
        }
    }
}

/// The answer as the guest may see it: every credential spelling injected into this
/// request, and every secret the invocation knows, replaced in header names, values and
/// the body. A reflecting endpoint hands back `[REDACTED]`, never the credential.
fn scrub_response(
    mut resp: InboundResponse,
    ctx: &EgressContext<'_>,
    seen: &[String],
) -> InboundResponse {
    // Most requests inject the spellings the connection's last one did: their automaton
    // is kept for the next.
    let injected =
        (!seen.is_empty()).then(|| ctx.scrubber.get_or_build(seen, || Redactor::new(seen)));
    for r in injected.as_deref().into_iter().chain([ctx.redactor]) {
        if r.is_empty() {
            continue;
        }
        for (name, value) in resp.headers.iter_mut() {
            if let std::borrow::Cow::Owned(clean) = r.redact(name) {
                *name = clean;
            }
            if let std::borrow::Cow::Owned(clean) = r.redact(value) {
                *value = clean;
            }
        }
        if let std::borrow::Cow::Owned(clean) = r.redact_bytes(&resp.body) {
            resp.body = Bytes::from(clean);
        }
    }
    resp
}

/// Redacts the invocation's secrets and any credential used during this send.
fn scrub(message: &str, redactor: &Redactor, seen: &[String]) -> String {
    let mut out = redactor.redact_string(message);
    for value in seen {
        if value.len() >= crate::redact::MIN_SECRET_LEN {
            out = out.replace(value.as_str(), crate::redact::REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::BoxFuture;

    fn is_send<T: Send>(_: &T) {}
    fn is_send_sync<T: Send + Sync>() {}

    /// The import glue runs `send` inside wasmtime's async host calls, which need a
    /// `Send` future, and shares one `Egress` across threads.
    #[test]
    fn shared_and_send() {
        is_send_sync::<Egress>();
        is_send_sync::<CallLog>();
        is_send_sync::<RequestCounter>();
        is_send_sync::<Redactor>();
        let egress = Egress::with_transport(EgressConfig::default(), Arc::new(Refuse));
        let (counter, calls, limits, redactor) = (
            RequestCounter::new(),
            CallLog::new(),
            EgressLimits::default(),
            Redactor::empty(),
        );
        let policy = FnPolicy(|_: &Url| false);
        let (bindings, injected) = (Bindings::default(), InjectedValues::new());
        let scrubber = KeptRedactor::default();
        let ctx = EgressContext {
            policy: &policy,
            tokens: None,
            app_tokens: &NO_APP_TOKENS,
            secrets: &NoSecrets,
            counter: &counter,
            calls: &calls,
            limits: &limits,
            redactor: &redactor,
            bindings: &bindings,
            injected: &injected,
            scrubber: &scrubber,
        };
        let req = OutboundRequest {
            method: Method::Get,
            url: "https://example.com/".into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
            auth: Auth::None,
        };
        let fut = egress.send(req, &ctx);
        is_send(&fut);
        drop(fut);
    }

    struct Refuse;

    impl Transport for Refuse {
        fn send<'a>(
            &'a self,
            _req: PreparedRequest,
            _limits: &'a EgressLimits,
        ) -> BoxFuture<'a, Result<InboundResponse, EgressError>> {
            Box::pin(async { Err(EgressError::network("refused by test transport")) })
        }
    }
}
