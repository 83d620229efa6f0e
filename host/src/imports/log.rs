//! `keyway:connector/log`: guest log events into `tracing`, attributed to connector,
//! connection, route and invocation, with every known secret value redacted.

use crate::runtime::HostState;
use crate::runtime::wit::log as wit;

/// Longest message or field value kept; the rest is cut so a guest cannot flood the logs.
const MAX_LOG_TEXT: usize = 8 << 10;
/// Most fields kept per event.
const MAX_FIELDS: usize = 32;

fn clip(text: &str) -> &str {
    if text.len() <= MAX_LOG_TEXT {
        return text;
    }
    let mut end = MAX_LOG_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl wit::Host for HostState {
    fn log(
        &mut self,
        level: wit::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let conn = &self.conn;
        let message = self.redact(clip(&message));
        let fields = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|(k, v)| format!("{}={}", clip(k), clip(v)))
            .collect::<Vec<_>>()
            .join(" ");
        let fields = self.redact(&fields);
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
