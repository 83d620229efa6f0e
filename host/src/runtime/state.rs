//! The data a `Store` carries for one invocation: the WASI context (nothing granted),
//! the resource table, limits, captured stdio, and the invocation's context.

use super::limits::InvocationLimits;
use super::stdio::GuestOutput;
use crate::context::ConnectionContext;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Identity of one invocation, for logs and records.
#[derive(Debug, Clone)]
pub(crate) struct InvocationMeta {
    pub(crate) id: String,
    pub(crate) route: String,
}

pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: InvocationLimits,
    pub(crate) stdout: GuestOutput,
    pub(crate) stderr: GuestOutput,
    pub(crate) conn: ConnectionContext,
    pub(crate) meta: InvocationMeta,
}

impl HostState {
    pub(crate) fn new(
        conn: ConnectionContext,
        meta: InvocationMeta,
        memory_limit: usize,
        output_limit: usize,
    ) -> Self {
        let stdout = GuestOutput::new(output_limit);
        let stderr = GuestOutput::new(output_limit);
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
        HostState {
            wasi,
            table: ResourceTable::new(),
            limits: InvocationLimits::new(memory_limit),
            stdout,
            stderr,
            conn,
            meta,
        }
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
