//! End-to-end tests of the egress layer against local hyper servers on 127.0.0.1.
//!
//! Each test starts its own server(s) on an ephemeral port and drives
//! `Egress::send` with real URL policy, address vetting, injection and redaction.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use keyway_host::egress::{
    AddressVetting, Auth, Bindings, CallLog, Egress, EgressConfig, EgressContext, EgressError,
    EgressErrorCode, EgressLimits, FnPolicy, InboundResponse, InjectFormat, InjectRule,
    InjectedValues, NoSecrets, OAuthAuth, OutboundRequest, PreparedRequest, RequestCounter,
    SecretError, SecretSource, Target, TokenError, TokenErrorCode, TokenSource, Transport,
    UrlPolicy,
};
use keyway_host::redact::{KeptRedactor, Redactor};
use keyway_host::types::{BoxFuture, Method};
use tokio::net::TcpListener;
use url::Url;

const CANARY_TOKEN: &str = "canary-access-token-5d1e";
const CANARY_SECRET: &str = "canary-secret-setting-77aa";

// ---------- local server ----------

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
}

enum Reply {
    Plain(StatusCode, Vec<(&'static str, String)>, &'static str),
    Owned(StatusCode, Vec<(&'static str, String)>, String),
    Slow(Duration),
    Endless,
}

type Handler = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    accepted: Arc<AtomicUsize>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A body that yields 64 KiB chunks, far more than any cap in these tests.
struct Endless {
    left: usize,
}

impl Body for Endless {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; 64 * 1024])))))
    }
}

async fn serve(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Server {
    serve_with(handler, None).await
}

async fn serve_with(
    handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(AtomicUsize::new(0));
    let handler: Handler = Arc::new(handler);
    let (seen2, accepted2) = (seen.clone(), accepted.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            accepted2.fetch_add(1, Ordering::SeqCst);
            let (handler, seen) = (handler.clone(), seen2.clone());
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let (handler, seen) = (handler.clone(), seen.clone());
                    async move {
                        let entry = Seen {
                            path: req.uri().to_string(),
                            headers: req.headers().clone(),
                        };
                        let index = {
                            let mut list = seen.lock().unwrap();
                            list.push(entry.clone());
                            list.len() - 1
                        };
                        let _ = req.into_body().collect().await;
                        let resp: Response<BoxBody<Bytes, Infallible>> =
                            match handler(&entry, index) {
                                Reply::Plain(status, headers, body) => {
                                    let mut b = Response::builder().status(status);
                                    for (k, v) in headers {
                                        b = b.header(k, v);
                                    }
                                    b.body(Full::new(Bytes::from_static(body.as_bytes())).boxed())
                                        .unwrap()
                                }
                                Reply::Owned(status, headers, body) => {
                                    let mut b = Response::builder().status(status);
                                    for (k, v) in headers {
                                        b = b.header(k, v);
                                    }
                                    b.body(Full::new(Bytes::from(body)).boxed()).unwrap()
                                }
                                Reply::Slow(delay) => {
                                    tokio::time::sleep(delay).await;
                                    Response::new(Full::new(Bytes::from_static(b"late")).boxed())
                                }
                                Reply::Endless => Response::new(Endless { left: 100_000 }.boxed()),
                            };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            });
        }
    });
    Server {
        addr,
        seen,
        accepted,
    }
}

fn ok(body: &'static str) -> Reply {
    Reply::Plain(StatusCode::OK, vec![], body)
}

// ---------- seams ----------

/// Allows exactly the listed hosts (any port), like a manifest pattern without a path.
struct Hosts(Vec<&'static str>);

impl UrlPolicy for Hosts {
    fn allows(&self, url: &Url) -> bool {
        url.host_str().is_some_and(|h| self.0.contains(&h))
    }
}

/// Hands out `tok-<n>` where n counts forced refreshes.
struct Tokens {
    fetches: AtomicUsize,
    refreshes: AtomicUsize,
    prefix: &'static str,
}

impl Tokens {
    fn new(prefix: &'static str) -> Self {
        Self {
            fetches: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
            prefix,
        }
    }
    fn current(&self) -> String {
        format!("{}{}", self.prefix, self.refreshes.load(Ordering::SeqCst))
    }
}

impl TokenSource for Tokens {
    fn token(&self, _min_ttl: Duration) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async move {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            Ok(self.current())
        })
    }
    fn force_refresh(&self) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async move {
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            Ok(self.current())
        })
    }
}

struct OneSecret;

impl SecretSource for OneSecret {
    fn secret(&self, name: &str) -> Result<String, SecretError> {
        match name {
            "api_key" => Ok(CANARY_SECRET.to_owned()),
            "user" => Ok("svc-user".to_owned()),
            other => Err(SecretError::NotFound(other.to_owned())),
        }
    }
}

struct Invocation {
    policy: Box<dyn UrlPolicy>,
    tokens: Tokens,
    counter: RequestCounter,
    calls: CallLog,
    limits: EgressLimits,
    redactor: Redactor,
    bindings: Bindings,
    injected: InjectedValues,
    scrubber: KeptRedactor,
}

/// A rule admitting every URL (the allowlist still applies), in `header`.
fn everywhere(header: &'static str, format: InjectFormat) -> InjectRule {
    InjectRule {
        admits: Arc::new(FnPolicy(|_: &Url| true)),
        describe: format!("test rule ({header})"),
        header: http::HeaderName::from_static(header),
        format,
    }
}

fn bearer_rule() -> InjectRule {
    everywhere("authorization", InjectFormat::Prefix("Bearer ".into()))
}

/// The token and `api_key` as bearer anywhere, `user` as basic with no password.
fn default_bindings() -> Bindings {
    let mut b = Bindings {
        oauth: vec![bearer_rule()],
        ..Bindings::default()
    };
    b.secrets.insert("api_key".into(), vec![bearer_rule()]);
    b.secrets.insert(
        "user".into(),
        vec![everywhere(
            "authorization",
            InjectFormat::Basic {
                password_secret: None,
            },
        )],
    );
    b
}

impl Invocation {
    fn new(hosts: Vec<&'static str>) -> Self {
        Self {
            policy: Box::new(Hosts(hosts)),
            tokens: Tokens::new("tok-"),
            counter: RequestCounter::new(),
            calls: CallLog::new(),
            limits: EgressLimits::default(),
            redactor: Redactor::new([CANARY_TOKEN, CANARY_SECRET]),
            bindings: default_bindings(),
            injected: InjectedValues::new(),
            scrubber: KeptRedactor::default(),
        }
    }
    fn ctx(&self) -> EgressContext<'_> {
        EgressContext {
            policy: self.policy.as_ref(),
            tokens: Some(&self.tokens),
            app_tokens: &keyway_host::egress::NO_APP_TOKENS,
            secrets: &OneSecret,
            counter: &self.counter,
            calls: &self.calls,
            limits: &self.limits,
            redactor: &self.redactor,
            bindings: &self.bindings,
            injected: &self.injected,
            scrubber: &self.scrubber,
        }
    }
}

fn loopback_egress() -> Egress {
    Egress::new(EgressConfig {
        allowed_cidrs: vec!["127.0.0.1/32".parse().unwrap()],
        ..EgressConfig::default()
    })
    .unwrap()
}

fn get(url: String, auth: Auth) -> OutboundRequest {
    OutboundRequest {
        method: Method::Get,
        url,
        headers: vec![("accept".into(), "application/json".into())],
        body: None,
        timeout_ms: None,
        auth,
    }
}

fn oauth() -> Auth {
    Auth::OAuth(OAuthAuth {
        min_ttl_seconds: 60,
    })
}

async fn send_err(egress: &Egress, req: OutboundRequest, inv: &Invocation) -> EgressError {
    match egress.send(req, &inv.ctx()).await {
        Ok(resp) => panic!("expected an error, got status {}", resp.status),
        Err(err) => err,
    }
}

// ---------- tests ----------

#[tokio::test]
async fn server_sees_injected_bearer_and_guest_headers() {
    let server = serve(|_, _| ok("{\"ok\":true}")).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1"]);
    let resp = egress
        .send(get(server.url("/v1/orders?page=2"), oauth()), &inv.ctx())
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(&resp.body[..], b"{\"ok\":true}");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/orders?page=2");
    assert_eq!(seen[0].headers["authorization"], "Bearer tok-0");
    assert_eq!(seen[0].headers["accept"], "application/json");
    assert_eq!(seen[0].headers["host"], server.addr.to_string());
    let calls = inv.calls.snapshot();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, Some(200));
    assert_eq!(calls[0].method, Method::Get);
}

#[tokio::test]
async fn shopify_style_header_bearer_and_basic_secrets() {
    let server = serve(|_, _| ok("")).await;
    let egress = loopback_egress();
    let mut inv = Invocation::new(vec!["127.0.0.1"]);
    inv.bindings.oauth = vec![everywhere(
        "x-shopify-access-token",
        InjectFormat::Prefix(String::new()),
    )];
    egress
        .send(get(server.url("/a"), oauth()), &inv.ctx())
        .await
        .unwrap();
    egress
        .send(
            get(server.url("/b"), Auth::Secret("api_key".into())),
            &inv.ctx(),
        )
        .await
        .unwrap();
    let basic = Auth::Secret("user".into());
    egress
        .send(get(server.url("/c"), basic), &inv.ctx())
        .await
        .unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].headers["x-shopify-access-token"], "tok-0");
    assert!(seen[0].headers.get("authorization").is_none());
    assert_eq!(
        seen[1].headers["authorization"],
        format!("Bearer {CANARY_SECRET}")
    );
    // base64("svc-user:")
    assert_eq!(seen[2].headers["authorization"], "Basic c3ZjLXVzZXI6");
    // Pooled keep-alive: three sequential requests, one connection.
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn allowlist_miss_is_denied_before_any_connection() {
    let server = serve(|_, _| ok("")).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["api.example.com"]);
    let err = send_err(&egress, get(server.url("/x"), oauth()), &inv).await;
    assert_eq!(err.code, EgressErrorCode::Denied);
    assert!(
        err.message.contains(&format!("http://{}", server.addr)),
        "{}",
        err.message
    );
    assert_eq!(server.accepted.load(Ordering::SeqCst), 0);
    assert_eq!(inv.tokens.fetches.load(Ordering::SeqCst), 0);
    let calls = inv.calls.snapshot();
    assert_eq!(calls[0].error, Some(EgressErrorCode::Denied));
}

#[tokio::test]
async fn userinfo_trick_is_denied() {
    let server = serve(|_, _| ok("")).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1", "allowed.com"]);
    let url = format!("http://allowed.com@{}/", server.addr);
    let err = send_err(&egress, get(url, oauth()), &inv).await;
    assert_eq!(err.code, EgressErrorCode::Denied);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn loopback_refused_without_operator_cidr() {
    let server = serve(|_, _| ok("")).await;
    let egress = Egress::new(EgressConfig::default()).unwrap();
    let inv = Invocation::new(vec![
        "127.0.0.1",
        "localhost",
        "::ffff:7f00:1",
        "[::ffff:7f00:1]",
    ]);
    let err = send_err(&egress, get(server.url("/"), oauth()), &inv).await;
    assert_eq!(err.code, EgressErrorCode::Denied);
    assert!(err.message.contains("loopback"), "{}", err.message);
    let by_name = format!("http://localhost:{}/", server.addr.port());
    assert_eq!(
        send_err(&egress, get(by_name, oauth()), &inv).await.code,
        EgressErrorCode::Denied
    );
    assert_eq!(server.accepted.load(Ordering::SeqCst), 0);
    // Injection comes after the checks: no token was even fetched for refused requests.
    assert_eq!(inv.tokens.fetches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn localhost_admitted_by_cidr_reaches_server() {
    let server = serve(|_, _| ok("hi")).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["localhost"]);
    let url = format!("http://localhost:{}/", server.addr.port());
    let resp = egress.send(get(url, Auth::None), &inv.ctx()).await.unwrap();
    assert_eq!(&resp.body[..], b"hi");
}

#[tokio::test]
async fn mapped_ipv6_refused_even_with_loopback_cidr() {
    let server = serve(|_, _| ok("")).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["[::ffff:7f00:1]"]);
    let port = server.addr.port();
    for url in [
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::ffff:7f00:1]:{port}/"),
    ] {
        let err = send_err(&egress, get(url.clone(), oauth()), &inv).await;
        assert_eq!(err.code, EgressErrorCode::Denied, "{url}");
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 0);
    assert_eq!(inv.tokens.fetches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn redirect_is_returned_and_token_never_reaches_other_origin() {
    let other = serve(|_, _| ok("stolen")).await;
    let location = other.url("/collect");
    let first = serve(move |_, _| {
        Reply::Plain(StatusCode::FOUND, vec![("location", location.clone())], "")
    })
    .await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1"]);
    let resp = egress
        .send(get(first.url("/start"), oauth()), &inv.ctx())
        .await
        .unwrap();
    assert_eq!(resp.status, 302);
    let loc = resp
        .headers
        .iter()
        .find(|(k, _)| k == "location")
        .map(|(_, v)| v.clone());
    assert_eq!(loc, Some(other.url("/collect")));
    assert_eq!(first.seen()[0].headers["authorization"], "Bearer tok-0");
    assert!(other.seen().is_empty());
    assert_eq!(other.accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unauthorized_then_success_after_one_forced_refresh() {
    let server = serve(|seen, _| {
        if seen
            .headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer tok-1")
        {
            ok("fresh")
        } else {
            Reply::Plain(StatusCode::UNAUTHORIZED, vec![], "expired")
        }
    })
    .await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1"]);
    let resp = egress
        .send(get(server.url("/me"), oauth()), &inv.ctx())
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(&resp.body[..], b"fresh");
    assert_eq!(inv.tokens.refreshes.load(Ordering::SeqCst), 1);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].headers["authorization"], "Bearer tok-0");
    assert_eq!(seen[1].headers["authorization"], "Bearer tok-1");
    let calls = inv.calls.snapshot();
    assert_eq!(
        calls
            .iter()
            .map(|c| (c.status, c.retry))
            .collect::<Vec<_>>(),
        vec![(Some(401), false), (Some(200), true)]
    );
    // The retry does not spend another request of the invocation's budget.
    assert_eq!(inv.counter.used(), 1);
}

#[tokio::test]
async fn second_unauthorized_is_returned_after_exactly_one_refresh() {
    let server = serve(|_, _| Reply::Plain(StatusCode::UNAUTHORIZED, vec![], "no")).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1"]);
    // However many 401s one invocation meets, it forces one refresh: five requests, one
    // retry.
    for _ in 0..5 {
        let resp = egress
            .send(get(server.url("/me"), oauth()), &inv.ctx())
            .await
            .unwrap();
        assert_eq!(resp.status, 401);
    }
    assert_eq!(inv.tokens.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(server.seen().len(), 6);
    // A 401 without OAuth auth is returned with no refresh and no retry.
    let resp = egress
        .send(get(server.url("/plain"), Auth::None), &inv.ctx())
        .await
        .unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(inv.tokens.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(server.seen().len(), 7);
}

#[tokio::test]
async fn body_cap_cuts_off_an_endless_body() {
    let server = serve(|_, _| Reply::Endless).await;
    let egress = loopback_egress();
    let mut inv = Invocation::new(vec!["127.0.0.1"]);
    inv.limits.max_response_body_bytes = 256 * 1024;
    let err = send_err(&egress, get(server.url("/big"), Auth::None), &inv).await;
    assert_eq!(err.code, EgressErrorCode::TooLarge);
    assert!(err.message.contains("262144"), "{}", err.message);
}

#[tokio::test]
async fn header_count_cap() {
    let server = serve(|_, _| {
        let headers = (0..20)
            .map(|i| (["x-a", "x-b", "x-c", "x-d"][i % 4], format!("{i}")))
            .collect();
        Reply::Plain(StatusCode::OK, headers, "")
    })
    .await;
    let egress = loopback_egress();
    let mut inv = Invocation::new(vec!["127.0.0.1"]);
    inv.limits.max_response_headers = 10;
    let err = send_err(&egress, get(server.url("/"), Auth::None), &inv).await;
    assert_eq!(err.code, EgressErrorCode::TooLarge);
}

#[tokio::test]
async fn slow_server_times_out() {
    let server = serve(|_, _| Reply::Slow(Duration::from_secs(30))).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1"]);
    let mut req = get(server.url("/slow"), Auth::None);
    req.timeout_ms = Some(200);
    let err = send_err(&egress, req, &inv).await;
    assert_eq!(err.code, EgressErrorCode::Timeout);
    assert_eq!(
        inv.calls.snapshot()[0].error,
        Some(EgressErrorCode::Timeout)
    );
}

#[tokio::test]
async fn request_budget_per_invocation() {
    let server = serve(|_, _| ok("")).await;
    let egress = loopback_egress();
    let mut inv = Invocation::new(vec!["127.0.0.1"]);
    inv.limits.max_requests_per_invocation = 2;
    for _ in 0..2 {
        egress
            .send(get(server.url("/"), Auth::None), &inv.ctx())
            .await
            .unwrap();
    }
    let err = send_err(&egress, get(server.url("/"), Auth::None), &inv).await;
    assert_eq!(err.code, EgressErrorCode::TooLarge);
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn guest_cannot_set_the_injected_header_or_host() {
    let server = serve(|_, _| ok("")).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1"]);
    let mut req = get(server.url("/"), oauth());
    req.headers
        .push(("Authorization".into(), "Bearer guest".into()));
    assert_eq!(
        send_err(&egress, req, &inv).await.code,
        EgressErrorCode::InvalidInput
    );
    let mut req = get(server.url("/"), Auth::None);
    req.headers.push(("Host".into(), "evil.example".into()));
    egress.send(req, &inv.ctx()).await.unwrap();
    assert_eq!(server.seen()[0].headers["host"], server.addr.to_string());
}

/// A token source whose errors (wrongly) quote the token.
struct LeakyTokens;

impl TokenSource for LeakyTokens {
    fn token(&self, _min_ttl: Duration) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async move {
            Err(TokenError::new(
                TokenErrorCode::ReauthRequired,
                format!("refresh failed for {CANARY_TOKEN}"),
            ))
        })
    }
    fn force_refresh(&self) -> BoxFuture<'_, Result<String, TokenError>> {
        self.token(Duration::ZERO)
    }
}

#[tokio::test]
async fn canary_secrets_are_redacted_from_errors_and_records() {
    let server = serve(|_, _| ok("")).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1"]);
    let leaky = LeakyTokens;
    let ctx = EgressContext {
        tokens: Some(&leaky),
        app_tokens: &keyway_host::egress::NO_APP_TOKENS,
        ..inv.ctx()
    };
    let err = egress
        .send(get(server.url("/"), oauth()), &ctx)
        .await
        .unwrap_err();
    assert_eq!(err.code, EgressErrorCode::ReauthRequired);
    assert!(!err.message.contains(CANARY_TOKEN), "{}", err.message);
    assert!(err.message.contains("[REDACTED]"));

    // A secret in the query string (allowed host, refused address) stays out of the
    // error and the call record.
    let strict = Egress::new(EgressConfig::default()).unwrap();
    let url = server.url(&format!("/?key={CANARY_SECRET}"));
    let err = send_err(&strict, get(url, Auth::Secret("api_key".into())), &inv).await;
    assert_eq!(err.code, EgressErrorCode::Denied);
    let everything = format!("{err} {:?} {:?}", err, inv.calls.snapshot());
    assert!(!everything.contains(CANARY_SECRET), "{everything}");
    assert!(!everything.contains(CANARY_TOKEN), "{everything}");
}

#[tokio::test]
async fn oauth_without_oauth_configuration_is_not_permitted() {
    let server = serve(|_, _| ok("")).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1"]);
    let ctx = EgressContext {
        tokens: None,
        app_tokens: &keyway_host::egress::NO_APP_TOKENS,
        secrets: &NoSecrets,
        ..inv.ctx()
    };
    let err = egress
        .send(get(server.url("/"), oauth()), &ctx)
        .await
        .unwrap_err();
    assert_eq!(err.code, EgressErrorCode::NotPermitted);
    assert!(server.seen().is_empty());
}

/// A provider mock: records what it received and answers 200.
struct MockProvider {
    vetting: AddressVetting,
    got: Mutex<Vec<(Target, Option<String>)>>,
}

impl Transport for MockProvider {
    fn address_vetting(&self) -> AddressVetting {
        self.vetting
    }
    fn send<'a>(
        &'a self,
        req: PreparedRequest,
        _limits: &'a EgressLimits,
    ) -> BoxFuture<'a, Result<InboundResponse, EgressError>> {
        Box::pin(async move {
            let auth = req
                .headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned());
            // Debug output of a prepared request never shows the credential.
            assert!(!format!("{req:?}").contains("tok-"));
            self.got.lock().unwrap().push((req.target, auth));
            Ok(InboundResponse {
                status: 200,
                headers: vec![],
                body: Bytes::from_static(b"mock"),
            })
        })
    }
}

#[tokio::test]
async fn mock_transport_keeps_policy_and_injection() {
    let mock = Arc::new(MockProvider {
        vetting: AddressVetting::SkippedForMock,
        got: Mutex::new(Vec::new()),
    });
    let egress = Egress::with_transport(EgressConfig::default(), mock.clone());
    let inv = Invocation::new(vec!["api.provider.test"]);
    let resp = egress
        .send(
            get("https://api.provider.test/v1/me".into(), oauth()),
            &inv.ctx(),
        )
        .await
        .unwrap();
    assert_eq!(&resp.body[..], b"mock");
    let err = send_err(&egress, get("https://other.test/".into(), oauth()), &inv).await;
    assert_eq!(err.code, EgressErrorCode::Denied);
    let got = mock.got.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![(Target::Unresolved, Some("Bearer tok-0".to_owned()))]
    );
}

#[tokio::test]
async fn non_mock_custom_transport_gets_vetted_addresses() {
    let mock = Arc::new(MockProvider {
        vetting: AddressVetting::Enforced,
        got: Mutex::new(Vec::new()),
    });
    let egress = Egress::with_transport(
        EgressConfig {
            allowed_cidrs: vec!["127.0.0.1/32".parse().unwrap()],
            ..EgressConfig::default()
        },
        mock.clone(),
    );
    let inv = Invocation::new(vec![
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
    ]);
    egress
        .send(get("http://127.0.0.1:9/".into(), Auth::None), &inv.ctx())
        .await
        .unwrap();
    // These targets go to a transport that never opens a socket, so even a broken
    // check could not send traffic off this machine.
    for url in [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
    ] {
        let err = send_err(&egress, get(url.into(), oauth()), &inv).await;
        assert_eq!(err.code, EgressErrorCode::Denied, "{url}");
    }
    assert_eq!(inv.tokens.fetches.load(Ordering::SeqCst), 0);
    let got = mock.got.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![(Target::Vetted(vec!["127.0.0.1:9".parse().unwrap()]), None)]
    );
}

#[tokio::test]
async fn post_body_reaches_server() {
    let server = serve(|seen, _| {
        let len = seen
            .headers
            .get("content-length")
            .map(|v| v.to_str().unwrap().to_owned());
        Reply::Plain(
            StatusCode::CREATED,
            vec![("x-len", len.unwrap_or_default())],
            "",
        )
    })
    .await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1"]);
    let req = OutboundRequest {
        method: Method::Post,
        body: Some(b"{\"a\":1}".to_vec()),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("content-length".into(), "999".into()),
        ],
        ..get(server.url("/items"), Auth::None)
    };
    let resp = egress.send(req, &inv.ctx()).await.unwrap();
    assert_eq!(resp.status, 201);
    assert!(resp.headers.contains(&("x-len".to_owned(), "7".to_owned())));
}

/// A self-signed certificate for `localhost`, its server acceptor, and a client TLS
/// configuration that trusts exactly that certificate.
fn localhost_tls() -> (tokio_rustls::TlsAcceptor, Arc<rustls::ClientConfig>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        Arc::new(client),
    )
}

#[tokio::test]
async fn https_with_trusted_certificate_and_sni() {
    let (acceptor, client) = localhost_tls();
    let server = serve_with(|_, _| ok("secure"), Some(acceptor)).await;
    let egress = Egress::new(EgressConfig {
        allowed_cidrs: vec!["127.0.0.1/32".parse().unwrap()],
        tls: Some(client),
        ..EgressConfig::default()
    })
    .unwrap();
    let inv = Invocation::new(vec!["localhost"]);
    let url = format!("https://localhost:{}/tls", server.addr.port());
    let resp = egress
        .send(get(url.clone(), oauth()), &inv.ctx())
        .await
        .unwrap();
    assert_eq!(&resp.body[..], b"secure");
    assert_eq!(server.seen()[0].headers["authorization"], "Bearer tok-0");
    egress.send(get(url, oauth()), &inv.ctx()).await.unwrap();
    assert_eq!(
        server.accepted.load(Ordering::SeqCst),
        1,
        "TLS connection reused"
    );
}

#[tokio::test]
async fn https_with_untrusted_certificate_fails_before_any_request() {
    let (acceptor, _client) = localhost_tls();
    let server = serve_with(|_, _| ok("secure"), Some(acceptor)).await;
    // Default roots: the self-signed certificate is not trusted.
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["localhost"]);
    let url = format!("https://localhost:{}/tls", server.addr.port());
    let err = send_err(&egress, get(url, oauth()), &inv).await;
    assert_eq!(err.code, EgressErrorCode::ProviderUnavailable);
    assert!(err.message.contains("tls"), "{}", err.message);
    assert!(server.seen().is_empty());
}

/// A resolver that never answers in time.
struct StuckResolver;

impl keyway_host::egress::Resolve for StuckResolver {
    fn lookup<'a>(
        &'a self,
        _host: &'a str,
        _port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(Vec::new())
        })
    }
}

#[tokio::test]
async fn stuck_dns_lookup_times_out() {
    let egress = Egress::new(EgressConfig {
        resolver: Some(Arc::new(StuckResolver)),
        ..EgressConfig::default()
    })
    .unwrap();
    let inv = Invocation::new(vec!["api.provider.test"]);
    let mut req = get("https://api.provider.test/".into(), oauth());
    req.timeout_ms = Some(100);
    let err = send_err(&egress, req, &inv).await;
    assert_eq!(err.code, EgressErrorCode::Timeout);
    assert_eq!(inv.tokens.fetches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn declared_length_over_cap_is_too_large() {
    // Not this file: it holds the canary values, which the answer is scrubbed of.
    static BIG: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| "0123456789abcdef\n".repeat(2048));
    let server = serve(|_, _| Reply::Owned(StatusCode::OK, vec![], BIG.clone())).await;
    let egress = loopback_egress();
    let mut inv = Invocation::new(vec!["127.0.0.1"]);
    inv.limits.max_response_body_bytes = 1024;
    let err = send_err(&egress, get(server.url("/"), Auth::None), &inv).await;
    assert_eq!(err.code, EgressErrorCode::TooLarge);
    // Within the cap, the same body arrives whole.
    inv.limits.max_response_body_bytes = BIG.len();
    let resp = egress
        .send(get(server.url("/"), Auth::None), &inv.ctx())
        .await
        .unwrap();
    assert_eq!(resp.body.len(), BIG.len());
}

// ---------- credential binding and scrubbing ----------

/// Answers with every request header reflected in the body and in response headers.
fn reflect(seen: &Seen, _: usize) -> Reply {
    let mut body = String::new();
    let mut headers = Vec::new();
    for (name, value) in &seen.headers {
        let value = value.to_str().unwrap_or("").to_owned();
        body.push_str(&format!("{name}: {value}\n"));
        headers.push(("x-echo", value));
    }
    Reply::Owned(StatusCode::OK, headers, body)
}

#[tokio::test]
async fn a_reflecting_endpoint_hands_back_no_credential() {
    let server = serve(reflect).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1"]);
    for auth in [oauth(), Auth::Secret("api_key".into())] {
        let resp = egress
            .send(get(server.url("/headers"), auth), &inv.ctx())
            .await
            .unwrap();
        let everything = format!("{:?} {}", resp.headers, String::from_utf8_lossy(&resp.body));
        assert!(!everything.contains("tok-0"), "{everything}");
        assert!(!everything.contains(CANARY_SECRET), "{everything}");
        assert!(
            everything.contains("authorization: [REDACTED]"),
            "{everything}"
        );
    }
    // The server did get the credentials: the scrubbing is on the way back.
    let seen = server.seen();
    assert_eq!(seen[0].headers["authorization"], "Bearer tok-0");
    assert_eq!(
        seen[1].headers["authorization"],
        format!("Bearer {CANARY_SECRET}")
    );
    // Every spelling injected is reported for the invocation's redactor to learn.
    let learned = inv.injected.take();
    for value in ["tok-0", "Bearer tok-0", CANARY_SECRET] {
        assert!(learned.iter().any(|v| v == value), "{value} not learned");
    }
}

/// The scrubber of injected spellings is kept on the connection between requests: a
/// token used again is served the kept one, and a rotated token is never scrubbed by the
/// old token's.
#[tokio::test]
async fn the_kept_scrubber_follows_the_token() {
    let server = serve(reflect).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1"]);
    for (round, rotate) in [false, false, true, false, true].into_iter().enumerate() {
        if rotate {
            inv.tokens.refreshes.fetch_add(1, Ordering::SeqCst);
        }
        let token = inv.tokens.current();
        let resp = egress
            .send(get(server.url("/headers"), oauth()), &inv.ctx())
            .await
            .unwrap();
        let everything = format!("{:?} {}", resp.headers, String::from_utf8_lossy(&resp.body));
        assert!(!everything.contains(&token), "round {round}: {everything}");
        assert!(
            everything.contains("authorization: [REDACTED]"),
            "round {round}: {everything}"
        );
        assert_eq!(
            server.seen()[round].headers["authorization"],
            format!("Bearer {token}")
        );
        // The scrubber used is the connection's kept one, holding this request's
        // spellings (the token and `Bearer <token>`), not one built and thrown away.
        assert_eq!(format!("{:?}", inv.scrubber), "KeptRedactor(2 values)");
    }
}

#[tokio::test]
async fn a_credential_goes_only_where_its_rule_admits() {
    let server = serve(reflect).await;
    let egress = loopback_egress();
    let mut inv = Invocation::new(vec!["127.0.0.1"]);
    // The token may go to /api/* only, although the allowlist admits the whole host.
    inv.bindings.oauth = vec![InjectRule {
        admits: Arc::new(FnPolicy(|u: &Url| u.path().starts_with("/api/"))),
        describe: "/connection/oauth/inject/0 (http://127.0.0.1/api/*)".into(),
        header: http::HeaderName::from_static("authorization"),
        format: InjectFormat::Prefix("Bearer ".into()),
    }];
    inv.bindings.secrets.clear();
    let err = send_err(&egress, get(server.url("/echo"), oauth()), &inv).await;
    assert_eq!(err.code, EgressErrorCode::NotPermitted);
    assert!(
        err.message.contains("/connection/oauth/inject/0"),
        "{}",
        err.message
    );
    let err = send_err(
        &egress,
        get(server.url("/api/x"), Auth::Secret("api_key".into())),
        &inv,
    )
    .await;
    assert_eq!(err.code, EgressErrorCode::NotPermitted);
    assert!(
        err.message.contains("permissions.secrets.api_key"),
        "{}",
        err.message
    );
    // Refused before anything was fetched or sent.
    assert_eq!(server.accepted.load(Ordering::SeqCst), 0);
    assert_eq!(inv.tokens.fetches.load(Ordering::SeqCst), 0);
    let resp = egress
        .send(get(server.url("/api/orders"), oauth()), &inv.ctx())
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(server.seen()[0].headers["authorization"], "Bearer tok-0");
}

/// A source that declines to refresh: it answers the same token again.
struct JustRefreshed;

impl TokenSource for JustRefreshed {
    fn token(&self, _min_ttl: Duration) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async { Ok("same-token".to_owned()) })
    }
    fn force_refresh(&self) -> BoxFuture<'_, Result<String, TokenError>> {
        self.token(Duration::ZERO)
    }
}

#[tokio::test]
async fn no_retry_when_the_refresh_gave_the_same_token() {
    let server = serve(|_, _| Reply::Plain(StatusCode::UNAUTHORIZED, vec![], "no")).await;
    let egress = loopback_egress();
    let inv = Invocation::new(vec!["127.0.0.1"]);
    let ctx = EgressContext {
        tokens: Some(&JustRefreshed),
        app_tokens: &keyway_host::egress::NO_APP_TOKENS,
        ..inv.ctx()
    };
    let resp = egress
        .send(get(server.url("/me"), oauth()), &ctx)
        .await
        .unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(server.seen().len(), 1);
}
