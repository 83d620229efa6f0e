//! One route invocation: route lookup (404/405 before any guest code runs), a fresh
//! `Store` from the `InstancePre` with memory and deadline limits, the guest call, the
//! response check, and the guest's captured output written to the logs, redacted, with
//! one line per stream or log door that went over its per-invocation cap.

use super::bindings::{Connector, guest_routes};
use super::engine::EPOCH_TICK;
use super::error::{InvokeError, MAX_ERROR_TEXT};
use super::loader::{LoadedComponent, Route, root_cause};
use super::state::HostState;
use crate::context::ConnectionContext;
use crate::egress::CallRecord;
use crate::redact::Redactor;
use crate::types::Method;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wasmtime::component::Instance;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::phases::{PhaseClock, Phases};
pub(crate) use super::state::InvocationMeta;

/// A call of a route.
#[derive(Debug, Clone)]
pub struct RouteRequest {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RouteRequest {
    /// A request with no query, headers or body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        RouteRequest {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// What the route answered.
#[derive(Debug, Clone)]
pub struct RouteResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub invocation_id: String,
    /// The outbound calls the route made (URLs redacted).
    pub calls: Vec<CallRecord>,
    /// Wall-clock time from instantiation to the guest's answer.
    pub duration: Duration,
    /// The invocation's redactor as it ended: the connection's secrets and every token
    /// handed to the guest. Apply it (redact, then clip) to anything taken from this
    /// answer that leaves the invocation as text, such as an error or a stored field.
    pub redactor: Arc<Redactor>,
}

static NEXT_INVOCATION: AtomicU64 = AtomicU64::new(1);

/// A new invocation id, `inv-<start ms, hex>-<sequence>`: unique within the process and
/// ordered by start time. Every invocation, answered or failed, is known by one.
pub(crate) fn next_invocation_id() -> String {
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let n = NEXT_INVOCATION.fetch_add(1, Ordering::Relaxed);
    format!("inv-{start:x}-{n}")
}

impl InvocationMeta {
    pub(crate) fn new(route: &str) -> Self {
        Self::with_id(Arc::from(route), next_invocation_id())
    }

    pub(crate) fn with_id(route: Arc<str>, id: String) -> Self {
        InvocationMeta {
            id,
            route,
            memory_limit: None,
            hook_slot: false,
        }
    }
}

type GuestCall<'a, R> = Pin<Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>>;

/// A fresh instance: the `connector` world's exports, and the instance itself for exports
/// looked up apart (the token hooks).
pub(crate) struct Instantiated {
    pub(crate) connector: Connector,
    pub(crate) instance: Instance,
}

impl LoadedComponent {
    /// The route for `method` and `path`, or the 404/405 the caller should see.
    pub(crate) fn find_route(&self, method: Method, path: &str) -> Result<&Route, InvokeError> {
        let mut allowed = Vec::new();
        for route in &self.routes {
            if route.path == path {
                if route.method == method {
                    return Ok(route);
                }
                allowed.push(route.method.as_str());
            }
        }
        if allowed.is_empty() {
            Err(InvokeError::RouteNotFound {
                connector: self.key.clone(),
                path: path.to_string(),
            })
        } else {
            Err(InvokeError::MethodNotAllowed {
                connector: self.key.clone(),
                path: path.to_string(),
                method: method.as_str().to_string(),
                allowed: allowed.join(", "),
            })
        }
    }

    /// Runs the route for `req` with what `conn` allows.
    pub async fn invoke(
        &self,
        conn: &ConnectionContext,
        req: RouteRequest,
    ) -> Result<RouteResponse, InvokeError> {
        self.invoke_as(conn, req, next_invocation_id()).await
    }

    /// [`invoke`](Self::invoke) under an id the caller took from [`next_invocation_id`],
    /// so a failure can be recorded under the id its log lines carry.
    pub(crate) async fn invoke_as(
        &self,
        conn: &ConnectionContext,
        req: RouteRequest,
        invocation_id: String,
    ) -> Result<RouteResponse, InvokeError> {
        self.invoke_measured(conn, req, invocation_id, None).await
    }

    /// [`invoke`](Self::invoke), with where its time went: for the bench.
    #[doc(hidden)]
    pub async fn invoke_phased(
        &self,
        conn: &ConnectionContext,
        req: RouteRequest,
    ) -> Result<(RouteResponse, Phases), InvokeError> {
        let mut phases = Phases::default();
        let res = self
            .invoke_measured(conn, req, next_invocation_id(), Some(&mut phases))
            .await?;
        Ok((res, phases))
    }

    async fn invoke_measured(
        &self,
        conn: &ConnectionContext,
        req: RouteRequest,
        invocation_id: String,
        phases: Option<&mut Phases>,
    ) -> Result<RouteResponse, InvokeError> {
        let mut clock = PhaseClock::new(phases);
        let route = self.find_route(req.method, &req.path)?;
        let route_name = route.label.clone();
        let meta = InvocationMeta::with_id(route_name.clone(), invocation_id);
        let invocation_id = meta.id.clone();
        let wit_req = guest_routes::Request {
            method: req.method.into(),
            path: req.path,
            query: req.query,
            headers: req.headers,
            body: req.body,
        };
        let started = Instant::now();
        clock.lap(|p| &mut p.prepare);
        let (res, calls, redactor) = self
            .run_measured(conn, meta, &mut clock, move |store, guest| {
                Box::pin(async move {
                    let mut res = guest
                        .connector
                        .keyway_connector_routes()
                        .call_handle(&mut *store, &wit_req)
                        .await?;
                    // The answer leaves the invocation: every secret it knows by now
                    // (settings, tokens handed out or injected) is replaced.
                    scrub_answer(&mut res, &store.data().redactor);
                    Ok(res)
                })
            })
            .await?;
        self.check_response(&route_name, &res, &redactor)?;
        clock.lap(|p| &mut p.check);
        Ok(RouteResponse {
            status: res.status,
            headers: res.headers,
            body: res.body,
            invocation_id,
            calls,
            duration: started.elapsed(),
            redactor,
        })
    }

    fn check_response(
        &self,
        route: &str,
        res: &guest_routes::Response,
        redactor: &Redactor,
    ) -> Result<(), InvokeError> {
        // The reason may quote a header name the guest chose.
        let malformed = |reason: String| InvokeError::MalformedResponse {
            connector: self.key.clone(),
            route: route.to_string(),
            reason: redactor.redact_clipped(&reason, MAX_ERROR_TEXT),
        };
        if !(100..=599).contains(&res.status) {
            return Err(malformed(format!(
                "status {} is not an HTTP status",
                res.status
            )));
        }
        let cap = self.runtime.inner.config.max_response_body;
        if res.body.len() > cap {
            return Err(malformed(format!(
                "body of {} bytes exceeds the {cap}-byte cap",
                res.body.len()
            )));
        }
        for (name, value) in &res.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(malformed(format!("header name {name:?} is not valid")));
            }
            if http::HeaderValue::from_str(value).is_err() {
                return Err(malformed(format!(
                    "header {name} has a value that is not valid"
                )));
            }
        }
        Ok(())
    }

    /// Instantiates the component in a fresh store and runs `call`, turning traps,
    /// deadline and memory exhaustion into [`InvokeError`]s. The guest's captured output
    /// is logged (redacted) whatever happens. Returns the outbound calls made and the
    /// invocation's final redactor as well.
    pub(crate) async fn run<R, F>(
        &self,
        conn: &ConnectionContext,
        meta: InvocationMeta,
        call: F,
    ) -> Result<(R, Vec<CallRecord>, Arc<Redactor>), InvokeError>
    where
        R: Send,
        F: for<'a> FnOnce(&'a mut Store<HostState>, &'a Instantiated) -> GuestCall<'a, R> + Send,
    {
        self.run_measured(conn, meta, &mut PhaseClock::new(None), call)
            .await
    }

    async fn run_measured<R, F>(
        &self,
        conn: &ConnectionContext,
        meta: InvocationMeta,
        clock: &mut PhaseClock<'_>,
        call: F,
    ) -> Result<(R, Vec<CallRecord>, Arc<Redactor>), InvokeError>
    where
        R: Send,
        F: for<'a> FnOnce(&'a mut Store<HostState>, &'a Instantiated) -> GuestCall<'a, R> + Send,
    {
        let inner = &self.runtime.inner;
        let config = &inner.config;
        // A context may ask for its own deadline (a stream run's is longer than a call's).
        let deadline = conn.deadline.unwrap_or(config.deadline);
        let route = meta.route.clone();
        let instantiate_err = |reason: String| InvokeError::Instantiate {
            connector: self.key.clone(),
            route: route.to_string(),
            reason,
        };
        let slots = if meta.hook_slot {
            &inner.hook_slots
        } else {
            &inner.slots
        };
        let _slot = slots
            .acquire()
            .await
            .map_err(|_| instantiate_err("the runtime is shutting down".into()))?;
        inner.instance_started();
        clock.lap(|p| &mut p.slot);
        let started = Instant::now();
        let state = HostState::new(conn.clone(), meta, config);
        clock.lap(|p| &mut p.state);
        let mut store = Store::new(&inner.engine, state);
        store.limiter(|state| &mut state.limits);
        // Every epoch tick the guest yields to the executor, so a busy guest never holds a
        // worker thread for longer than a tick; past the deadline it traps instead.
        let cutoff = started + deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= cutoff {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });

        clock.lap(|p| &mut p.store);

        let outcome = tokio::time::timeout(deadline + EPOCH_TICK * 10, async {
            let instance = self
                .pre
                .instance_pre()
                .instantiate_async(&mut store)
                .await?;
            let connector = self.indices.load(&mut store, &instance)?;
            let guest = Instantiated {
                connector,
                instance,
            };
            clock.lap(|p| &mut p.instantiate);
            call(&mut store, &guest).await
        })
        .await;
        clock.lap(|p| &mut p.call);
        let state = store.data();
        let last_stderr = flush_guest_output(state);
        tracing::debug!(
            connector = %self.key, route = %route, invocation = %state.meta.id,
            elapsed_us = started.elapsed().as_micros() as u64, "invocation finished"
        );
        let result = match outcome {
            Err(_elapsed) => Err(InvokeError::DeadlineExceeded {
                connector: self.key.clone(),
                route: route.to_string(),
                deadline,
            }),
            Ok(Ok(value)) => Ok((value, state.calls.take(), state.redactor.clone())),
            Ok(Err(e)) => Err(self.classify(&store, e, route.to_string(), last_stderr, deadline)),
        };
        drop(store);
        clock.lap(|p| &mut p.finish);
        result
    }

    fn classify(
        &self,
        store: &Store<HostState>,
        e: wasmtime::Error,
        route: String,
        last_stderr: Option<String>,
        deadline: std::time::Duration,
    ) -> InvokeError {
        let state = store.data();
        let config = &self.runtime.inner.config;
        if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return InvokeError::DeadlineExceeded {
                connector: self.key.clone(),
                route,
                deadline,
            };
        }
        if state.limits.memory_denied {
            return InvokeError::MemoryExceeded {
                connector: self.key.clone(),
                route,
                limit: state.meta.memory_limit.unwrap_or(config.memory_limit),
            };
        }
        let mut message = match e.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => e
                .chain()
                .last()
                .map(|c| c.to_string())
                .unwrap_or_else(|| root_cause(&e)),
        };
        if let Some(tail) = last_stderr {
            message.push_str(&format!(" (guest stderr: {tail})"));
        }
        InvokeError::Trapped {
            connector: self.key.clone(),
            route,
            message: state.redact_clipped(&message, MAX_ERROR_TEXT),
        }
    }
}

/// Lines of guest stderr quoted in a trap report (a Rust panic prints its location, then
/// its message).
const STDERR_TAIL: usize = 2;

/// Writes the guest's stdout and stderr to the logs, redacted, and returns the last
/// meaningful stderr lines (a panic message, usually) for error reports. Reports what
/// went over each cap: stdout, stderr and the `log` door, one line each.
fn flush_guest_output(state: &HostState) -> Option<String> {
    let conn = &state.conn;
    let meta = &state.meta;
    let connection = conn.connection.as_deref().unwrap_or("-");
    let mut tail: Vec<String> = Vec::new();
    for (stream, output) in [("stdout", &state.stdout), ("stderr", &state.stderr)] {
        let (lines, dropped) = output.take_lines(&state.redactor);
        for line in lines {
            tracing::info!(
                target: "keyway::guest",
                connector = %conn.connector, connection = %connection, route = %meta.route,
                invocation = %meta.id, stream, "{line}"
            );
            if stream == "stderr" && !line.starts_with("note: run with `RUST_BACKTRACE") {
                tail.push(line);
            }
        }
        if dropped > 0 {
            tracing::warn!(
                target: "keyway::guest",
                connector = %conn.connector, invocation = %meta.id, stream, dropped,
                "guest output over the per-invocation cap was dropped"
            );
        }
    }
    let log = &state.log_budget;
    if log.dropped_events > 0 {
        tracing::warn!(
            target: "keyway::guest",
            connector = %conn.connector, invocation = %meta.id, stream = "log",
            dropped_events = log.dropped_events, dropped_bytes = log.dropped_bytes,
            "guest log events over the per-invocation cap were dropped"
        );
    }
    let tail = tail.split_off(tail.len().saturating_sub(STDERR_TAIL));
    (!tail.is_empty()).then(|| tail.join(" "))
}

/// Replaces every secret the invocation's redactor knows in a route's answer: header
/// values and the body (names are checked for validity, not rewritten).
fn scrub_answer(res: &mut guest_routes::Response, redactor: &crate::redact::Redactor) {
    if redactor.is_empty() {
        return;
    }
    for (_, value) in res.headers.iter_mut() {
        if let std::borrow::Cow::Owned(clean) = redactor.redact(value) {
            *value = clean;
        }
    }
    if let std::borrow::Cow::Owned(clean) = redactor.redact_bytes(&res.body) {
        res.body = clean;
    }
}
