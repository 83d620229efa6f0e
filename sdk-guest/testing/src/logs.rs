//! Log capture: one global `tracing` subscriber per test process (a thread-local one
//! misses events whose callsites other threads already cached, and the host logs from
//! tokio worker threads). Every route call runs inside a `keyway_testing` span carrying
//! its test runtime's number; an event is kept only when such a span is in its scope, and
//! is filed under that number, so tests running in parallel each see their own lines.
//! Guest `log` events, guest stdout/stderr and the host's own events all reach `tracing`
//! inside the call, so all of them are captured, after the host's redaction.
//!
//! This module owns the subscriber and the captured lines. It must not redact or filter
//! text itself: a test must see exactly what the host wrote.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// The name of the span a route call runs in.
pub(crate) const SPAN_NAME: &str = "keyway_testing";

static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
static LINES: OnceLock<Mutex<HashMap<u64, Vec<String>>>> = OnceLock::new();
static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

/// A fresh number for one test runtime's lines.
pub(crate) fn next_tag() -> u64 {
    NEXT_TAG.fetch_add(1, Ordering::Relaxed)
}

/// Installs the capturing subscriber once per process. Fails when another global
/// subscriber got there first: then nothing could be captured, and a test asserting
/// that a canary is absent from the logs would pass for the wrong reason.
pub(crate) fn install() -> Result<(), String> {
    INSTALLED
        .get_or_init(|| {
            let subscriber = tracing_subscriber::registry().with(Capture);
            tracing::subscriber::set_global_default(subscriber).map_err(|_| {
                "another global tracing subscriber is installed in this test process; \
                 keyway-testing needs its own to capture the logs of route calls"
                    .to_string()
            })
        })
        .clone()
}

/// The lines captured for the runtime `tag`, in order.
pub(crate) fn lines(tag: u64) -> Vec<String> {
    let map = LINES.get_or_init(Default::default);
    let map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.get(&tag).cloned().unwrap_or_default()
}

/// Drops the lines of a runtime that is gone.
pub(crate) fn forget(tag: u64) {
    let map = LINES.get_or_init(Default::default);
    map.lock().unwrap_or_else(|p| p.into_inner()).remove(&tag);
}

/// The runtime number stored on a `keyway_testing` span.
struct Tag(u64);

struct TagVisitor(Option<u64>);

impl Visit for TagVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "runtime" {
            self.0 = Some(value);
        }
    }
    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

/// Formats an event like the host's text logs: `LEVEL target: message key=value ...`.
struct LineVisitor {
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

struct Capture;

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != SPAN_NAME {
            return;
        }
        let mut visitor = TagVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(tag), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(Tag(tag));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let Some(tag) = scope
            .from_root()
            .find_map(|span| span.extensions().get::<Tag>().map(|t| t.0))
        else {
            return;
        };
        let meta = event.metadata();
        let mut v = LineVisitor {
            message: String::new(),
            fields: String::new(),
        };
        event.record(&mut v);
        let line = format!(
            "{} {}: {}{}",
            meta.level(),
            meta.target(),
            v.message,
            v.fields
        );
        let map = LINES.get_or_init(Default::default);
        map.lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tag)
            .or_default()
            .push(line);
    }
}
