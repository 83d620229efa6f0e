//! The request a route receives and the response it returns.

use crate::Error;
use crate::wit::exports::keyway::connector::routes as wit;
use crate::wit::keyway::connector::types::Method as WitMethod;
use serde::de::DeserializeOwned;

/// An HTTP method a route can be declared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub(crate) fn from_wit(m: WitMethod) -> Self {
        match m {
            WitMethod::Get => Method::Get,
            WitMethod::Post => Method::Post,
            WitMethod::Put => Method::Put,
            WitMethod::Patch => Method::Patch,
            WitMethod::Delete => Method::Delete,
        }
    }

    pub(crate) fn to_wit(self) -> WitMethod {
        match self {
            Method::Get => WitMethod::Get,
            Method::Post => WitMethod::Post,
            Method::Put => WitMethod::Put,
            Method::Patch => WitMethod::Patch,
            Method::Delete => WitMethod::Delete,
        }
    }
}

/// One call of a route.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    #[doc(hidden)]
    pub fn from_wit(req: wit::Request) -> Self {
        Request {
            method: Method::from_wit(req.method),
            path: req.path,
            query: req.query,
            headers: req.headers,
            body: req.body,
        }
    }

    /// The first query parameter called `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body)
            .map_err(|e| Error::invalid_input(format!("request body is not UTF-8: {e}")))
    }

    /// The body parsed as JSON; an empty body reads as `null`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let body: &[u8] = if self.body.is_empty() {
            b"null"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| {
            Error::invalid_input(format!("request body is not the expected JSON: {e}"))
        })
    }
}

/// What a route answers. Build one with the helpers in [`crate::api`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    #[doc(hidden)]
    pub fn into_wit(self) -> wit::Response {
        wit::Response {
            status: self.status,
            headers: self.headers,
            body: self.body,
        }
    }
}
