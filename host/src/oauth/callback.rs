//! The loopback callback listener used by `connections authorize`: binds 127.0.0.1 on a given
//! or ephemeral port, serves exactly one `GET /callback`, answers the browser with a short
//! page and hands the query parameters back.
//!
//! Owns: `CallbackListener`.
//! Must not: listen on anything but loopback, echo parameters into the page, or log them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use url::Url;

use super::authorize::{AuthorizeError, CallbackParams};

pub(crate) const CALLBACK_PATH: &str = "/callback";

#[derive(Debug, thiserror::Error)]
pub(crate) enum CallbackError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("no callback arrived within {0:?}")]
    Timeout(Duration),
    #[error("the callback listener failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Params(#[from] AuthorizeError),
}

/// A bound listener waiting for one callback.
pub(crate) struct CallbackListener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl CallbackListener {
    /// Binds 127.0.0.1 on `port` (0 picks a free one).
    pub async fn bind(port: u16) -> Result<Self, CallbackError> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| CallbackError::Bind { port, source })?;
        let addr = listener.local_addr()?;
        Ok(CallbackListener { listener, addr })
    }

    /// The exact redirect URI to register and send: `http://127.0.0.1:<port>/callback`.
    pub fn redirect_uri(&self) -> Url {
        // Always a valid URL: fixed scheme and host, numeric port.
        Url::parse(&format!(
            "http://127.0.0.1:{}{CALLBACK_PATH}",
            self.addr.port()
        ))
        .unwrap_or_else(|_| {
            Url::parse("http://127.0.0.1/callback").unwrap_or_else(|_| unreachable!())
        })
    }

    /// Serves connections until one `GET /callback` arrives, or `timeout` passes.
    pub async fn wait(self, timeout: Duration) -> Result<CallbackParams, CallbackError> {
        let slot: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let notify = Arc::new(tokio::sync::Notify::new());
        let accept = async {
            loop {
                let (stream, _) = self.listener.accept().await?;
                let slot = slot.clone();
                let notify = notify.clone();
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let slot = slot.clone();
                            let notify = notify.clone();
                            async move { Ok::<_, Infallible>(handle(req, &slot, &notify)) }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            #[allow(unreachable_code)]
            Ok::<(), std::io::Error>(())
        };
        let got = async {
            loop {
                notify.notified().await;
                if let Some(q) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    return q;
                }
            }
        };
        let query = tokio::select! {
            r = accept => { r?; return Err(CallbackError::Timeout(timeout)); }
            q = got => q,
            _ = tokio::time::sleep(timeout) => return Err(CallbackError::Timeout(timeout)),
        };
        Ok(CallbackParams::from_query(&query)?)
    }
}

fn page(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn handle(
    req: Request<hyper::body::Incoming>,
    slot: &Mutex<Option<String>>,
    notify: &tokio::sync::Notify,
) -> Response<Full<Bytes>> {
    if req.method() != hyper::Method::GET || req.uri().path() != CALLBACK_PATH {
        return page(StatusCode::NOT_FOUND, "Not found.\n");
    }
    let query = req.uri().query().unwrap_or("").to_string();
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(query);
    notify.notify_one();
    page(
        StatusCode::OK,
        "Keyway received the authorization response. You can close this window and return to the terminal.\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_one_callback_and_returns_its_parameters() {
        let listener = CallbackListener::bind(0).await.unwrap();
        let redirect = listener.redirect_uri();
        assert_eq!(redirect.host_str(), Some("127.0.0.1"));
        assert_eq!(redirect.path(), CALLBACK_PATH);
        let waiter = tokio::spawn(listener.wait(Duration::from_secs(30)));
        let client = reqwest::Client::new();
        let miss = client
            .get(redirect.join("/favicon.ico").unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(miss.status(), 404);
        let mut url = redirect.clone();
        url.set_query(Some("code=c0de&state=st4te&realmId=42"));
        let page = client.get(url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let body = page.text().await.unwrap();
        assert!(!body.contains("c0de"), "parameters are not echoed");
        let params = waiter.await.unwrap().unwrap();
        assert_eq!(params.get("code"), Some("c0de"));
        assert_eq!(params.get("realmId"), Some("42"));
    }

    #[tokio::test]
    async fn times_out_without_a_callback() {
        let listener = CallbackListener::bind(0).await.unwrap();
        let err = listener.wait(Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(err, CallbackError::Timeout(_)));
    }
}
