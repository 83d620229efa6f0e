//! Benchmark: the added cost of an outbound call through the egress layer (allowlist,
//! DNS-free address vetting of a literal, host-side OAuth injection, caps, call record)
//! against the same GET made directly with a hyper connection, both kept alive to the
//! same local server, in the same run. Run with `cargo bench -p keyway-tests --bench egress`.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use keyway_host::egress::{
    Auth, BoxFuture, CallLog, Egress, EgressConfig, EgressContext, EgressLimits, FnPolicy, Method,
    NoSecrets, OAuthAuth, OutboundRequest, RequestCounter, TokenError, TokenSource,
};
use keyway_host::redact::Redactor;
use keyway_tests::provider::LocalApi;
use std::hint::black_box;
use std::time::{Duration, Instant};

const WARMUP: usize = 500;
const RUNS: usize = 5_000;

struct FixedToken;

impl TokenSource for FixedToken {
    fn token(&self, _min_ttl: Duration) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async { Ok("bench-access-token-0123456789".to_string()) })
    }
    fn force_refresh(&self) -> BoxFuture<'_, Result<String, TokenError>> {
        Box::pin(async { Ok("bench-access-token-0123456789".to_string()) })
    }
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort_unstable();
    (v[v.len() / 2], v[(v.len() * 99) / 100])
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn direct(api: &LocalApi) -> (Duration, Duration) {
    let stream = tokio::net::TcpStream::connect(api.addr)
        .await
        .expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let uri: hyper::Uri = api.url("/ok").parse().expect("uri");
    let mut samples = Vec::with_capacity(RUNS);
    for i in 0..WARMUP + RUNS {
        let start = Instant::now();
        let req = hyper::Request::get(uri.clone())
            .header(
                "host",
                uri.authority().map(|a| a.as_str()).unwrap_or_default(),
            )
            .header("authorization", "Bearer bench-access-token-0123456789")
            .body(Empty::<Bytes>::new())
            .expect("request");
        let res = sender.send_request(req).await.expect("send");
        let body = res.into_body().collect().await.expect("body").to_bytes();
        black_box(body);
        if i >= WARMUP {
            samples.push(start.elapsed());
        }
    }
    stats(samples)
}

async fn through_egress(api: &LocalApi) -> (Duration, Duration) {
    let egress = Egress::new(EgressConfig {
        allowed_cidrs: vec!["127.0.0.1/32".parse().expect("cidr")],
        ..EgressConfig::default()
    })
    .expect("egress");
    let port = api.addr.port();
    let policy =
        FnPolicy(move |u: &url::Url| u.host_str() == Some("127.0.0.1") && u.port() == Some(port));
    let limits = EgressLimits {
        max_requests_per_invocation: u32::MAX,
        ..EgressLimits::default()
    };
    let redactor = Redactor::empty();
    let counter = RequestCounter::new();
    let calls = CallLog::new();
    let mut samples = Vec::with_capacity(RUNS);
    for i in 0..WARMUP + RUNS {
        let ctx = EgressContext {
            policy: &policy,
            tokens: Some(&FixedToken),
            secrets: &NoSecrets,
            counter: &counter,
            calls: &calls,
            limits: &limits,
            redactor: &redactor,
        };
        let req = OutboundRequest {
            method: Method::Get,
            url: api.url("/ok"),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
            auth: Auth::OAuth(OAuthAuth {
                min_ttl_seconds: 60,
                header: None,
                prefix: None,
            }),
        };
        let start = Instant::now();
        let res = egress.send(req, &ctx).await.expect("send");
        black_box(res);
        if i >= WARMUP {
            samples.push(start.elapsed());
        }
        calls.take();
    }
    stats(samples)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let api = LocalApi::start().await;
        let (d_med, d_p99) = direct(&api).await;
        let (e_med, e_p99) = through_egress(&api).await;
        println!(
            "\n## Outbound GET to a local server ({RUNS} runs after {WARMUP} warm-up, keep-alive)\n"
        );
        println!("| path | median (µs) | p99 (µs) |");
        println!("|---|---:|---:|");
        println!(
            "| direct hyper connection | {:.1} | {:.1} |",
            us(d_med),
            us(d_p99)
        );
        println!(
            "| keyway egress with OAuth injection | {:.1} | {:.1} |",
            us(e_med),
            us(e_p99)
        );
        let added = e_med.saturating_sub(d_med);
        println!(
            "\nadded by egress (median): {:.1} µs; target under 100 µs: {}",
            us(added),
            if added < Duration::from_micros(100) {
                "met"
            } else {
                "NOT met"
            }
        );
    });
}
