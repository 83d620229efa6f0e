//! Plain hyper servers the benchmarks measure against: the raw hello-world server (the
//! HTTP ceiling, run as its own process by `keyway-bench hyper-hello`), a counting
//! OAuth token endpoint for the refresh stampede, and a provider's `/me` answering a
//! small JSON for the outbound call.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves HTTP/1.1 with keep-alive on `listener`, answering every request with `handle`.
pub async fn serve<H, F>(listener: TcpListener, handle: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handle = handle.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let fut = handle(req);
                async move { Ok::<_, Infallible>(fut.await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// `keyway-bench hyper-hello`: answers `pong` to everything, on a multi-thread runtime
/// with one worker per core, as `keyway serve` has. Prints `listening on http://ADDR`.
pub fn hyper_hello(listen: SocketAddr) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(listen).await?;
        println!("listening on http://{}", listener.local_addr()?);
        serve(listener, |_req| async {
            Response::new(Full::new(Bytes::from_static(b"pong")))
        })
        .await;
        Ok(())
    })
}

/// Starts `keyway-bench hyper-hello` as its own process on an ephemeral loopback port.
pub fn spawn_hyper_hello() -> anyhow::Result<crate::procs::ServerProc> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(["hyper-hello", "--listen", "127.0.0.1:0"]);
    crate::procs::ServerProc::spawn_announced("raw hyper", cmd, "listening on ")
}

/// An OAuth 2.0 token endpoint that answers every refresh with a new token after
/// `delay` (a provider's round trip), and counts the requests it received.
pub struct TokenEndpoint {
    pub addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl TokenEndpoint {
    pub async fn start(delay: Duration) -> anyhow::Result<TokenEndpoint> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(serve(listener, move |req: Request<Incoming>| {
            let counter = counter.clone();
            async move {
                // Read the form so the client sees a normal exchange.
                let _ = req.into_body().collect().await;
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(delay).await;
                let body = format!(
                    r#"{{"access_token":"bench-fresh-token-{n}","token_type":"Bearer","expires_in":3600,"refresh_token":"bench-refresh-{n}"}}"#
                );
                let mut res = Response::new(Full::new(Bytes::from(body)));
                res.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                res
            }
        }));
        Ok(TokenEndpoint { addr, requests })
    }

    pub fn url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// The small JSON a provider's `/me` answers.
pub const ME_JSON: &str = r#"{"id":"acct-42","name":"Bench account","domain":"example.test"}"#;

/// Starts a server on an ephemeral loopback port that answers every request with
/// [`ME_JSON`]; its address.
pub async fn start_me_api() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, |_req| async {
        let mut res = Response::new(Full::new(Bytes::from_static(ME_JSON.as_bytes())));
        res.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        res
    }));
    Ok(addr)
}
