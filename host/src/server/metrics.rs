//! The server's Prometheus metrics: invocations by connector, route and status, their
//! durations, outbound calls, token refreshes by outcome, the background refresher's
//! passes and what they did, denials by reason, the invocations in flight, and the
//! response headers routes tried to set but may not.
//!
//! Owns: the metric families and their text encoding for `GET /metrics`.
//! Must not: use a connection name, URL, token or any caller-supplied text as a label
//! value beyond the connector key and the declared route (bounded sets).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::egress::CallRecord;
use crate::oauth::background::{PassObserver, PassReport};
use crate::oauth::{RefreshObserver, RefreshOutcome};
use crate::types::Method;

mod jobs;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InvocationLabels {
    connector: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    connector: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboundLabels {
    connector: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DroppedLabels {
    connector: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    connector: String,
    stream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamRunLabels {
    connector: String,
    stream: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// Why a request or an outbound call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denial {
    MissingApiKey,
    InvalidApiKey,
    InternalRoute,
    AdminKey,
    Overloaded,
    /// One API key already runs its share of the invocation slots.
    KeyShare,
    BodyTooLarge,
    /// The request body did not arrive within the body read timeout.
    BodyTimeout,
    /// A guest's outbound call refused by the allowlist or address policy.
    Egress,
}

impl Denial {
    fn as_str(self) -> &'static str {
        match self {
            Denial::MissingApiKey => "missing_api_key",
            Denial::InvalidApiKey => "invalid_api_key",
            Denial::InternalRoute => "internal_route",
            Denial::AdminKey => "admin_key",
            Denial::Overloaded => "overloaded",
            Denial::KeyShare => "key_share_exceeded",
            Denial::BodyTooLarge => "body_too_large",
            Denial::BodyTimeout => "body_timeout",
            Denial::Egress => "egress_denied",
        }
    }
}

/// How an invocation ended, for its counter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome<'a> {
    /// The HTTP status served.
    Status(u16),
    /// The host's error code (the invocation failed).
    Error(&'a str),
}

/// The metric handles of one route of one connector.
pub(crate) struct RouteMetrics {
    duration: Histogram,
    /// Invocation counters by status served, made on first use.
    statuses: papaya::HashMap<u16, Counter>,
    connector: String,
    /// `METHOD /path`, the route label.
    label: String,
}

impl RouteMetrics {
    /// `METHOD /path`.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }
}

#[derive(Hash, PartialEq, Eq)]
struct RouteKey {
    connector: String,
    method: Method,
    path: String,
}

/// A [`RouteKey`] by reference, to look one up without building it (same hash: the
/// same fields in the same order, `str` hashing as `String` does).
#[derive(Hash)]
struct RouteKeyRef<'a> {
    connector: &'a str,
    method: Method,
    path: &'a str,
}

impl papaya::Equivalent<RouteKey> for RouteKeyRef<'_> {
    fn equivalent(&self, key: &RouteKey) -> bool {
        self.method == key.method && self.path == key.path && self.connector == key.connector
    }
}

/// Every metric the server exports.
pub(crate) struct Metrics {
    /// Handles by route, so a call builds no label.
    routes: papaya::HashMap<RouteKey, Arc<RouteMetrics>>,
    registry: Registry,
    invocations: Family<InvocationLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    outbound: Family<OutboundLabels, Counter>,
    refreshes: Family<OutcomeLabels, Counter>,
    passes: Counter,
    pass_results: Family<OutcomeLabels, Counter>,
    denials: Family<ReasonLabels, Counter>,
    in_flight: Gauge,
    headers_dropped: Family<DroppedLabels, Counter>,
    stream_runs: Family<StreamRunLabels, Counter>,
    stream_run_durations: Family<StreamLabels, Histogram>,
    stream_records: Family<StreamLabels, Counter>,
    webhook_deliveries: Family<OutcomeLabels, Counter>,
    webhook_attempts: Family<OutcomeLabels, Counter>,
    webhook_queue: Gauge,
}

fn duration_histogram() -> Histogram {
    // 100 µs to ~52 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 20,
    ))
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("keyway");
        let invocations = Family::<InvocationLabels, Counter>::default();
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let outbound = Family::<OutboundLabels, Counter>::default();
        let refreshes = Family::<OutcomeLabels, Counter>::default();
        let passes = Counter::default();
        let pass_results = Family::<OutcomeLabels, Counter>::default();
        let denials = Family::<ReasonLabels, Counter>::default();
        let in_flight = Gauge::default();
        let headers_dropped = Family::<DroppedLabels, Counter>::default();
        let stream_runs = Family::<StreamRunLabels, Counter>::default();
        let stream_run_durations = Family::<StreamLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let stream_records = Family::<StreamLabels, Counter>::default();
        let webhook_deliveries = Family::<OutcomeLabels, Counter>::default();
        let webhook_attempts = Family::<OutcomeLabels, Counter>::default();
        let webhook_queue = Gauge::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries received, by outcome (accepted, duplicate, refused, failed)",
            webhook_deliveries.clone(),
        );
        registry.register(
            "webhook_attempts",
            "Webhook deliveries handed to routes, by outcome (delivered, retry, dead)",
            webhook_attempts.clone(),
        );
        registry.register(
            "webhook_queue_depth",
            "Webhook deliveries waiting for their route",
            webhook_queue.clone(),
        );
        registry.register(
            "stream_runs",
            "Stream runs (scheduled or asked for) by connector, stream and outcome (succeeded, failed)",
            stream_runs.clone(),
        );
        registry.register(
            "stream_run_duration_seconds",
            "Stream run wall-clock time",
            stream_run_durations.clone(),
        );
        registry.register(
            "stream_records",
            "Records stream runs committed as new, by connector and stream",
            stream_records.clone(),
        );
        registry.register(
            "invocations",
            "Route invocations by connector, route and HTTP status (or error code)",
            invocations.clone(),
        );
        registry.register(
            "invocation_duration_seconds",
            "Route invocation wall-clock time",
            durations.clone(),
        );
        registry.register(
            "outbound_calls",
            "Outbound HTTP calls made by routes, by connector and status class or error",
            outbound.clone(),
        );
        registry.register(
            "token_refreshes",
            "OAuth token refreshes at the provider by outcome",
            refreshes.clone(),
        );
        registry.register(
            "background_refresh_passes",
            "Passes of the background token refresher",
            passes.clone(),
        );
        registry.register(
            "background_refresh_connections",
            "Connections a background refresh pass acted on, by outcome (refreshed, exercised, failed)",
            pass_results.clone(),
        );
        registry.register(
            "denials",
            "Requests and outbound calls refused, by reason",
            denials.clone(),
        );
        registry.register(
            "invocations_in_flight",
            "Route invocations running now",
            in_flight.clone(),
        );
        registry.register(
            "route_headers_dropped",
            "Response headers a route set that the host did not send, by connector and reason",
            headers_dropped.clone(),
        );
        Arc::new(Metrics {
            routes: papaya::HashMap::new(),
            registry,
            invocations,
            durations,
            outbound,
            refreshes,
            passes,
            pass_results,
            denials,
            in_flight,
            headers_dropped,
            stream_runs,
            stream_run_durations,
            stream_records,
            webhook_deliveries,
            webhook_attempts,
            webhook_queue,
        })
    }

    /// The handles of `connector`'s route `method path`, made on its first call and
    /// shared by every later one, so a call builds no label.
    pub(crate) fn route(&self, connector: &str, method: Method, path: &str) -> Arc<RouteMetrics> {
        let key = RouteKeyRef {
            connector,
            method,
            path,
        };
        if let Some(hit) = self.routes.pin().get(&key) {
            return hit.clone();
        }
        let label = format!("{method} {path}");
        let made = Arc::new(RouteMetrics {
            duration: self
                .durations
                .get_or_create(&RouteLabels {
                    connector: connector.to_string(),
                    route: label.clone(),
                })
                .clone(),
            statuses: papaya::HashMap::new(),
            connector: connector.to_string(),
            label,
        });
        let key = RouteKey {
            connector: connector.to_string(),
            method,
            path: path.to_string(),
        };
        self.routes.pin().get_or_insert(key, made).clone()
    }

    /// One finished invocation of `route`: `status` is the HTTP status answered, or the
    /// runtime's error code.
    pub(crate) fn invocation(
        &self,
        route: &RouteMetrics,
        status: Outcome<'_>,
        seconds: f64,
        calls: &[CallRecord],
    ) {
        match status {
            Outcome::Status(code) => {
                let pinned = route.statuses.pin();
                match pinned.get(&code) {
                    Some(counter) => counter.inc(),
                    None => pinned
                        .get_or_insert_with(code, || {
                            self.invocation_counter(route, &code.to_string())
                        })
                        .inc(),
                };
            }
            Outcome::Error(code) => {
                self.invocation_counter(route, code).inc();
            }
        }
        route.duration.observe(seconds);
        for call in calls {
            let outcome = match (call.status, call.error) {
                (Some(s), _) => match s / 100 {
                    1 => "1xx",
                    2 => "2xx",
                    3 => "3xx",
                    4 => "4xx",
                    _ => "5xx",
                },
                (None, Some(code)) => code.as_str(),
                (None, None) => "unknown",
            };
            if matches!(call.error, Some(crate::egress::EgressErrorCode::Denied)) {
                self.deny(Denial::Egress);
            }
            self.outbound
                .get_or_create(&OutboundLabels {
                    connector: route.connector.clone(),
                    outcome: outcome.to_string(),
                })
                .inc();
        }
    }

    fn invocation_counter(&self, route: &RouteMetrics, status: &str) -> Counter {
        self.invocations
            .get_or_create(&InvocationLabels {
                connector: route.connector.clone(),
                route: route.label.clone(),
                status: status.to_string(),
            })
            .clone()
    }

    /// One response header of `connector`'s route dropped; `reason` is one of a fixed set.
    pub(crate) fn header_dropped(&self, connector: &str, reason: &'static str) {
        self.headers_dropped
            .get_or_create(&DroppedLabels {
                connector: connector.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn deny(&self, reason: Denial) {
        self.denials
            .get_or_create(&ReasonLabels {
                reason: reason.as_str().to_string(),
            })
            .inc();
    }

    /// Counts an invocation as running until the guard drops.
    pub fn in_flight(self: &Arc<Self>) -> InFlight {
        self.in_flight.inc();
        InFlight(self.clone())
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Decrements the in-flight gauge when dropped.
pub(crate) struct InFlight(Arc<Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

impl RefreshObserver for Metrics {
    fn refreshed(&self, outcome: RefreshOutcome) {
        self.refreshes
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str().to_string(),
            })
            .inc();
    }
}

impl PassObserver for Metrics {
    fn pass(&self, report: &PassReport) {
        self.passes.inc();
        for (outcome, count) in [
            ("refreshed", report.refreshed.len()),
            ("exercised", report.exercised.len()),
            ("failed", report.failed.len()),
        ] {
            if count > 0 {
                self.pass_results
                    .get_or_create(&OutcomeLabels {
                        outcome: outcome.to_string(),
                    })
                    .inc_by(count as u64);
            }
        }
    }
}
