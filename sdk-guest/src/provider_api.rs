//! The connector's API by relative path: `Api::get("/orders")` is sent to the manifest's
//! `connection.api.baseUrl` (filled with the connection's settings) plus `/orders`, with
//! the API's default headers and credential, all added by the host. A path that would
//! climb out of the base (`..`) is refused by the host with `invalid_input`.

use std::time::Duration;

use crate::http::{Body, HttpResponse, with_body_type};
use crate::wit::keyway::connector::http as wit;
use crate::{Error, Method};

/// Options of one API request: headers of its own (they win over the API's defaults of
/// the same name) and a timeout. The credential is the manifest's `connection.api.auth`.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    pub headers: Vec<(String, String)>,
    pub timeout: Option<Duration>,
}

impl ApiOptions {
    /// Adds a request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the per-request timeout (the host caps it).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Requests to the connector's API (`connection.api` in the manifest). `path` starts
/// with `/` and may carry a query (build one with [`crate::url::Query`]).
pub struct Api;

impl Api {
    /// Sends a request with any method.
    pub fn send(
        method: Method,
        path: &str,
        body: Body,
        opts: ApiOptions,
    ) -> Result<HttpResponse, Error> {
        let (headers, timeout_ms) = with_body_type(opts.headers, &body, opts.timeout);
        let req = wit::ApiRequest {
            method: method.to_wit(),
            path: path.to_string(),
            headers,
            body: body.into_bytes(),
            timeout_ms,
        };
        wit::send_api(&req)
            .map(HttpResponse::from)
            .map_err(Error::from)
    }

    pub fn get(path: &str) -> Result<HttpResponse, Error> {
        Api::send(Method::Get, path, Body::empty(), ApiOptions::default())
    }

    pub fn post(path: &str, body: impl Into<Body>) -> Result<HttpResponse, Error> {
        Api::send(Method::Post, path, body.into(), ApiOptions::default())
    }

    pub fn put(path: &str, body: impl Into<Body>) -> Result<HttpResponse, Error> {
        Api::send(Method::Put, path, body.into(), ApiOptions::default())
    }

    pub fn patch(path: &str, body: impl Into<Body>) -> Result<HttpResponse, Error> {
        Api::send(Method::Patch, path, body.into(), ApiOptions::default())
    }

    pub fn delete(path: &str) -> Result<HttpResponse, Error> {
        Api::send(Method::Delete, path, Body::empty(), ApiOptions::default())
    }
}
