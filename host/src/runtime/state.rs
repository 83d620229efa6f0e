//! The data a `Store` carries for one invocation: the WASI context (nothing granted),
//! the resource table, limits, captured stdio, and the invocation's context.

use super::config::RuntimeConfig;
use super::limits::{InvocationLimits, LogBudget};
use super::stdio::{GuestOutput, MIN_MARGIN};
use crate::context::ConnectionContext;
use crate::egress::{CallLog, RequestCounter};
use crate::redact::Redactor;
use secrecy::ExposeSecret;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Identity of one invocation, for logs and records.
#[derive(Debug, Clone)]
pub(crate) struct InvocationMeta {
    pub(crate) id: String,
    /// The route's label (`METHOD /path`, or what a hook or the loader runs).
    pub(crate) route: Arc<str>,
    /// A memory limit below the runtime's (a token hook's); `None` for the runtime's.
    pub(crate) memory_limit: Option<usize>,
    /// Runs in one of the slots kept for token hooks rather than a route's.
    pub(crate) hook_slot: bool,
}

pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: InvocationLimits,
    /// What the `log` door may still write, and what it dropped.
    pub(crate) log_budget: LogBudget,
    pub(crate) stdout: GuestOutput,
    pub(crate) stderr: GuestOutput,
    pub(crate) conn: ConnectionContext,
    pub(crate) meta: InvocationMeta,
    /// The connection's redactor, plus any token handed to the guest in this invocation.
    pub(crate) redactor: Arc<Redactor>,
    /// Outbound requests used so far.
    pub(crate) requests: RequestCounter,
    /// Outbound calls made, for the invocation record.
    pub(crate) calls: CallLog,
    learned: Vec<String>,
}

impl HostState {
    pub(crate) fn new(
        conn: ConnectionContext,
        meta: InvocationMeta,
        config: &RuntimeConfig,
    ) -> Self {
        let margin = conn.redactor.longest_secret().max(MIN_MARGIN);
        let stdout = GuestOutput::new(config.guest_output_limit, margin);
        let stderr = GuestOutput::new(config.guest_output_limit, margin);
        // Nothing granted: no preopened directories, no environment, no arguments, no
        // sockets or name lookups. Clocks and randomness remain, as Rust's std needs them;
        // the deadline is enforced by epochs, which a guest clock cannot move.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let redactor = conn.redactor.clone();
        HostState {
            redactor,
            requests: RequestCounter::new(),
            calls: CallLog::new(),
            learned: Vec::new(),
            wasi,
            table: ResourceTable::new(),
            limits: InvocationLimits::new(meta.memory_limit.unwrap_or(config.memory_limit)),
            log_budget: LogBudget::new(config.log_events_limit, config.log_bytes_limit),
            stdout,
            stderr,
            conn,
            meta,
        }
    }
}

impl HostState {
    /// `text` with every secret this invocation knows replaced.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.redactor.redact_string(text)
    }

    /// `text` redacted as a whole, then cut to `max_bytes` (see [`Redactor::redact_clipped`]).
    pub(crate) fn redact_clipped(&self, text: &str, max_bytes: usize) -> String {
        self.redactor.redact_clipped(text, max_bytes)
    }

    /// Remembers a secret handed to the guest (an access token) so it is redacted from
    /// everything this invocation writes afterwards.
    pub(crate) fn learn_secret(&mut self, value: &str) {
        self.learn_secrets(vec![value.to_string()]);
    }

    /// Remembers secrets that went out of the invocation (a token handed to the guest, or
    /// every spelling of a credential injected into a request), all at once, so the
    /// redactor is extended once.
    pub(crate) fn learn_secrets(&mut self, values: Vec<String>) {
        let mut new: Vec<String> = Vec::new();
        for value in values {
            if value.len() >= crate::redact::MIN_SECRET_LEN
                && !self.learned.contains(&value)
                && !new.contains(&value)
            {
                new.push(value);
            }
        }
        if new.is_empty() {
            return;
        }
        let first = self.learned.is_empty();
        self.learned.extend(new.iter().cloned());
        let secrets = &self.conn.secrets;
        let learned = &self.learned;
        let build = || {
            Redactor::new(
                secrets
                    .values()
                    .map(|s| s.expose_secret())
                    .chain(learned.iter().map(String::as_str)),
            )
        };
        // The first values learned are most often the ones the last invocation learned
        // too: the redactor (an automaton, costly to build) is kept on the connection's
        // context for them.
        self.redactor = if first {
            self.conn.learned.get_or_build(&new, build)
        } else {
            Arc::new(build())
        };
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
