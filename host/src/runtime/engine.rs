//! The process-wide runtime: the engine, the linker with every host import, the epoch
//! ticker that enforces deadlines, and the gate that keeps live instances within the
//! pooling allocator's slots.

use super::bindings::Connector;
use super::config::RuntimeConfig;
use super::error::LoadError;
use super::loader::LoadedComponent;
use super::state::HostState;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Bytes of a freed linear memory reset in place rather than unmapped (see `build_engine`).
const MEMORY_KEEP_RESIDENT: usize = 1 << 20;
/// Bytes of a freed table reset in place rather than unmapped.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// How often the epoch advances; deadlines are measured in these ticks, and a busy guest
/// yields its thread at each one (so a guest started on the server's front holds it for
/// about this long before it is moved to the guests' runtime).
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Shared by every connector and invocation of the process. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) config: RuntimeConfig,
    pub(crate) slots: Semaphore,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Builds the engine and linker. Fails only if wasmtime rejects the configuration.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, LoadError> {
        let engine = build_engine(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| LoadError::Engine(format!("linking WASI: {e:#}")))?;
        Connector::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| LoadError::Engine(format!("linking keyway imports: {e:#}")))?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone());
        let slots = Semaphore::new(config.max_instances as usize);
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                config,
                slots,
                ticker_stop,
            }),
        })
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Loads the component at `path` for the connector `key`: compile (or take from the
    /// cache), link, check it implements the world, and read its route table.
    pub async fn load_component(
        &self,
        key: &str,
        path: &Path,
    ) -> Result<LoadedComponent, LoadError> {
        let wasm = std::fs::read(path).map_err(|source| LoadError::Read {
            connector: key.to_string(),
            path: path.to_path_buf(),
            source,
        })?;
        self.load_component_bytes(key, path, &wasm).await
    }

    /// Like [`Runtime::load_component`] for bytes already in memory; `origin` names them in
    /// errors.
    pub async fn load_component_bytes(
        &self,
        key: &str,
        origin: &Path,
        wasm: &[u8],
    ) -> Result<LoadedComponent, LoadError> {
        LoadedComponent::load(self.clone(), key, origin, wasm).await
    }
}

fn build_engine(rc: &RuntimeConfig) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if rc.pooling {
        let slots = rc.max_instances;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(8))
            .total_memories(slots.saturating_mul(2))
            .total_tables(slots.saturating_mul(4))
            .total_stacks(slots)
            .max_memory_size(rc.memory_limit)
            // A freed slot's dirty pages are found with PAGEMAP_SCAN (Linux 6.7+) and
            // reset in place, up to these sizes, instead of being unmapped with `madvise`:
            // in a multi-threaded server every `madvise` costs a TLB shootdown on each
            // core, and every page unmapped is a page fault for the next instance.
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
            .table_keep_resident(TABLE_KEEP_RESIDENT);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the runtime is dropped.
fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("keyway-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    if let Err(e) = spawned {
        // Without the ticker a looping guest would only be stopped by the async timeout
        // around each invocation; say so loudly.
        tracing::error!(error = %e, "could not start the epoch ticker; deadlines fall back to the async timeout");
    }
}
