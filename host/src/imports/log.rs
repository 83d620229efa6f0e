//! `keyway:connector/log`: guest log events into `tracing`, attributed to connector,
//! connection, route and invocation, with every known secret value redacted.
//!
//! Each message and field is redacted whole and only then clipped, so a secret across
//! the clip point is replaced whole. An invocation writes at most the runtime's
//! `log_events_limit` events and `log_bytes_limit` bytes; the rest are dropped and
//! counted, and the count is logged once when the invocation ends (see `runtime::invoke`).
//! Must not write a guest's text anywhere before it is redacted.

use crate::runtime::HostState;
use crate::runtime::wit::log as wit;

/// Longest message or field value kept; the rest is cut so a guest cannot flood the logs.
const MAX_LOG_TEXT: usize = 8 << 10;
/// Most fields kept per event.
const MAX_FIELDS: usize = 32;

impl wit::Host for HostState {
    fn log(
        &mut self,
        level: wit::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let raw = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if !self.log_budget.has_room(raw) {
            return Ok(());
        }
        let message = self.redact_clipped(&message, MAX_LOG_TEXT);
        let fields = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    self.redact_clipped(k, MAX_LOG_TEXT),
                    self.redact_clipped(v, MAX_LOG_TEXT)
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        // Once more over the joined text: a value may be spelled across a key and its value.
        let fields = self.redact(&fields);
        if !self.log_budget.admit(message.len() + fields.len(), raw) {
            return Ok(());
        }
        let conn = &self.conn;
        let connection = conn.connection.as_deref().unwrap_or("-");
        let (connector, route, invocation) = (&*conn.connector, &self.meta.route, &self.meta.id);
        macro_rules! emit {
            ($lvl:ident) => {
                tracing::$lvl!(target: "keyway::guest", connector = %connector, connection = %connection, route = %route, invocation = %invocation, fields = %fields, "{message}")
            };
        }
        match level {
            wit::Level::Trace => emit!(trace),
            wit::Level::Debug => emit!(debug),
            wit::Level::Info => emit!(info),
            wit::Level::Warn => emit!(warn),
            wit::Level::Error => emit!(error),
        }
        Ok(())
    }
}
