//! The mock provider: responses queued by method and URL pattern, and a `Transport` that
//! answers the host's egress layer from that queue. The host has already checked the URL
//! against the manifest, applied its caps and injected the credential when a request gets
//! here, so every recorded call shows the headers as the provider would receive them.
//!
//! This module owns the queue and the call records. It must not check permissions or add
//! credentials (the host does), and it never opens a socket.

use crate::pattern;
use bytes::Bytes;
use keyway_host::egress::{
    AddressVetting, EgressError, EgressErrorCode, EgressLimits, InboundResponse, PreparedRequest,
    Transport, origin_of,
};
use keyway_host::types::BoxFuture;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};

/// One canned answer of the mock provider.
#[derive(Debug, Clone)]
pub struct MockResponse {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Timeout,
}

impl MockResponse {
    /// `status` with `body` as JSON (`content-type: application/json`).
    pub fn json(status: u16, body: Value) -> Self {
        MockResponse {
            kind: Kind::Reply {
                status,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.to_string().into_bytes(),
            },
        }
    }

    /// `status` with an empty body.
    pub fn status(status: u16) -> Self {
        MockResponse {
            kind: Kind::Reply {
                status,
                headers: Vec::new(),
                body: Vec::new(),
            },
        }
    }

    /// No answer in time: the guest gets the host's `timeout` error, at once.
    pub fn timeout() -> Self {
        MockResponse {
            kind: Kind::Timeout,
        }
    }

    /// Replaces the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        if let Kind::Reply { body: b, .. } = &mut self.kind {
            *b = body.into();
        }
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Kind::Reply { headers, .. } = &mut self.kind {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// One request the host sent to the mock provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub method: String,
    pub url: String,
    /// As sent, after host-side injection (lower-case names).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpCall {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Value::Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug)]
struct Queued {
    method: String,
    pattern: String,
    response: MockResponse,
}

#[derive(Debug, Default)]
struct State {
    queue: Vec<Queued>,
    calls: Vec<HttpCall>,
    unexpected: Vec<HttpCall>,
}

/// The mock provider of one test runtime: queue answers, then inspect what was sent.
#[derive(Debug, Default)]
pub struct MockHttp {
    state: Mutex<State>,
}

impl MockHttp {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `response` for the next `method` request whose whole URL matches `pattern`
    /// (`*` matches any run of characters). Answers for one pattern are used in order.
    pub fn respond_once(&self, method: &str, pattern: &str, response: MockResponse) -> &Self {
        self.lock().queue.push(Queued {
            method: method.to_ascii_uppercase(),
            pattern: pattern.to_string(),
            response,
        });
        self
    }

    /// Queues a `200` JSON answer for a `GET`.
    pub fn get_json_once(&self, pattern: &str, body: Value) -> &Self {
        self.respond_once("GET", pattern, MockResponse::json(200, body))
    }

    /// Queues a `200` JSON answer for a `POST`.
    pub fn post_json_once(&self, pattern: &str, body: Value) -> &Self {
        self.respond_once("POST", pattern, MockResponse::json(200, body))
    }

    /// Every request that reached the mock, in order (unexpected ones included).
    pub fn calls(&self) -> Vec<HttpCall> {
        self.lock().calls.clone()
    }

    /// Requests no queued answer matched; the guest got an error naming each.
    pub fn unexpected(&self) -> Vec<HttpCall> {
        self.lock().unexpected.clone()
    }

    /// Queued answers never used, as `METHOD pattern`.
    pub fn pending(&self) -> Vec<String> {
        self.lock()
            .queue
            .iter()
            .map(|q| format!("{} {}", q.method, q.pattern))
            .collect()
    }

    /// Panics naming every queued answer never used and every unexpected request.
    pub fn assert_all_used(&self) {
        let pending = self.pending();
        let unexpected: Vec<String> = self
            .unexpected()
            .iter()
            .map(|c| format!("{} {}", c.method, c.url))
            .collect();
        if !pending.is_empty() || !unexpected.is_empty() {
            panic!(
                "mock provider: {} queued response(s) never used: [{}]; {} unexpected request(s): [{}]",
                pending.len(),
                pending.join(", "),
                unexpected.len(),
                unexpected.join(", ")
            );
        }
    }

    /// Records `call` and takes the first queued answer that matches it.
    fn answer(&self, call: HttpCall) -> Option<MockResponse> {
        let mut state = self.lock();
        state.calls.push(call.clone());
        let found = state
            .queue
            .iter()
            .position(|q| q.method == call.method && pattern::matches(&q.pattern, &call.url));
        match found {
            Some(i) => Some(state.queue.remove(i).response),
            None => {
                state.unexpected.push(call);
                None
            }
        }
    }
}

/// The host's `Transport` over a [`MockHttp`].
pub(crate) struct MockTransport(pub(crate) Arc<MockHttp>);

impl Transport for MockTransport {
    fn address_vetting(&self) -> AddressVetting {
        AddressVetting::SkippedForMock
    }

    fn send<'a>(
        &'a self,
        req: PreparedRequest,
        _limits: &'a EgressLimits,
    ) -> BoxFuture<'a, Result<InboundResponse, EgressError>> {
        let call = HttpCall {
            method: req.method.as_str().to_string(),
            url: req.url.to_string(),
            headers: req
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: req.body.to_vec(),
        };
        let (method, url) = (call.method.clone(), call.url.clone());
        let outcome = match self.0.answer(call) {
            Some(MockResponse {
                kind:
                    Kind::Reply {
                        status,
                        headers,
                        body,
                    },
            }) => Ok(InboundResponse {
                status,
                headers,
                body: Bytes::from(body),
            }),
            Some(MockResponse {
                kind: Kind::Timeout,
            }) => Err(EgressError::new(
                EgressErrorCode::Timeout,
                format!(
                    "no complete response from {} in time (mock timeout)",
                    origin_of(&req.url)
                ),
            )),
            None => Err(EgressError::new(
                EgressErrorCode::ProviderUnavailable,
                format!(
                    "unexpected request {method} {url}: no mock response queued for it \
                     (queue one with respond_once)"
                ),
            )),
        };
        Box::pin(std::future::ready(outcome))
    }
}
