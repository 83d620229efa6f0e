//! A small local HTTP API on 127.0.0.1 that records what it receives, for tests of the
//! outbound door: it answers by path, and keeps every request's method, path and headers.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// One request the API received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    seen: Mutex<Vec<Seen>>,
    unauthorized_left: AtomicUsize,
}

/// The running API. Dropping it leaves the task running until the test's runtime ends.
#[derive(Clone)]
pub struct LocalApi {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl LocalApi {
    /// Starts the API on an ephemeral loopback port. Paths:
    /// `/ok` 200 text; `/redirect` 302 to another origin; `/flaky` 401 while
    /// [`LocalApi::fail_auth`] has failures left, then 200; `/big` a 2 MiB body;
    /// `/whoami` 200 echoing the `authorization` header's presence.
    pub async fn start() -> LocalApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State::default());
        let api = LocalApi {
            addr,
            state: state.clone(),
        };
        serve(listener, state, handle);
        api
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Makes `/flaky` answer 401 the next `n` times.
    pub fn fail_auth(&self, n: usize) {
        self.state.unauthorized_left.store(n, Ordering::SeqCst);
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }
}

/// Answers every connection `listener` accepts with `handle`, on the current runtime,
/// until the runtime ends.
pub(crate) fn serve<S, F, Fut>(listener: TcpListener, state: Arc<S>, handle: F)
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Request<Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, std::convert::Infallible>>
        + Send
        + 'static,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(state.clone(), req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    let seen = Seen {
        method: req.method().to_string(),
        path: path.clone(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
    };
    if let Ok(mut v) = state.seen.lock() {
        v.push(seen);
    }
    let response = |status: u16, body: Bytes| {
        let mut res = Response::new(Full::new(body));
        *res.status_mut() =
            hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
        res
    };
    let res = match path.as_str() {
        "/ok" => response(200, Bytes::from_static(b"hello from the provider")),
        "/redirect" => {
            let mut res = response(302, Bytes::new());
            res.headers_mut().insert(
                hyper::header::LOCATION,
                hyper::header::HeaderValue::from_static("http://127.0.0.2:9/elsewhere"),
            );
            res
        }
        "/flaky" => {
            let left = state.unauthorized_left.load(Ordering::SeqCst);
            if left > 0 {
                state.unauthorized_left.store(left - 1, Ordering::SeqCst);
                response(401, Bytes::from_static(b"token expired"))
            } else {
                response(200, Bytes::from_static(b"fresh token accepted"))
            }
        }
        "/big" => response(200, Bytes::from(vec![b'x'; 2 << 20])),
        // A reflecting endpoint, as a hostile connector would aim at: every request
        // header comes back in the body and in `x-echo-*` response headers.
        p if p.starts_with("/echo") => {
            let mut body = String::new();
            let mut res = response(200, Bytes::new());
            for (name, value) in req.headers() {
                let text = value.to_str().unwrap_or_default();
                body.push_str(&format!("{name}: {text}\n"));
                if let (Ok(n), Ok(v)) = (
                    hyper::header::HeaderName::from_bytes(format!("x-echo-{name}").as_bytes()),
                    hyper::header::HeaderValue::from_str(text),
                ) {
                    res.headers_mut().insert(n, v);
                }
            }
            *res.body_mut() = Full::new(Bytes::from(body));
            res
        }
        _ => response(404, Bytes::from_static(b"no such path")),
    };
    Ok(res)
}
