//! The process-wide runtime: the engine, the linker with every host import, the epoch
//! ticker that enforces deadlines, and the gate that keeps live instances within the
//! pooling allocator's slots.

use super::bindings::Connector;
use super::config::RuntimeConfig;
use super::error::LoadError;
use super::loader::LoadedComponent;
use super::state::HostState;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, OnceLock, Weak};
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
    /// Slots of their own for token hooks: a refresh that a route waits for may need a
    /// hook while every route slot is taken by routes waiting for that refresh.
    pub(crate) hook_slots: Semaphore,
    ticker: Ticker,
}

/// Instance slots kept for token hooks, beyond `RuntimeConfig::max_instances`.
pub(crate) const HOOK_SLOTS: u32 = 2;

/// The epoch ticker's side that invocations see. It sleeps once no instance has held a
/// slot for [`IDLE_TICKS_BEFORE_SLEEP`] ticks: a tick every millisecond cost an idle
/// server about 1.6% of a core.
struct Ticker {
    /// Set while the ticker sleeps for want of instances.
    asleep: AtomicBool,
    /// The ticker's thread, to wake it; unset if it could not be started.
    thread: OnceLock<std::thread::Thread>,
}

impl Ticker {
    fn wake(&self) {
        if self.asleep.load(Ordering::SeqCst)
            && let Some(thread) = self.thread.get()
        {
            thread.unpark();
        }
    }
}

impl Inner {
    /// An invocation took a slot: the epoch must advance again, for its deadline and its
    /// yields. One atomic read when the ticker is awake.
    pub(crate) fn instance_started(&self) {
        // Pairs with the fence in `run_ticker`: either the ticker sees this slot taken
        // before it sleeps, or this sees it asleep and wakes it.
        fence(Ordering::SeqCst);
        self.ticker.wake();
    }

    fn idle(&self) -> bool {
        self.slots.available_permits() == self.config.max_instances as usize
            && self.hook_slots.available_permits() == HOOK_SLOTS as usize
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

        let slots = Semaphore::new(config.max_instances as usize);
        let inner = Arc::new(Inner {
            engine,
            linker,
            config,
            slots,
            hook_slots: Semaphore::new(HOOK_SLOTS as usize),
            ticker: Ticker {
                asleep: AtomicBool::new(false),
                thread: OnceLock::new(),
            },
        });
        spawn_epoch_ticker(&inner);
        Ok(Runtime { inner })
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
        let slots = rc.max_instances.saturating_add(HOOK_SLOTS);
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

/// How long the ticker sleeps at most while no instance exists (it is woken at once when
/// one starts; this only bounds how late it notices the runtime is gone).
const IDLE_SLEEP: Duration = Duration::from_millis(200);

/// Advances the engine's epoch every [`EPOCH_TICK`] while an instance exists, until the
/// runtime is dropped.
fn spawn_epoch_ticker(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    let spawned = std::thread::Builder::new()
        .name("keyway-epoch".into())
        .spawn(move || run_ticker(&weak));
    match spawned {
        Ok(handle) => {
            let _ = inner.ticker.thread.set(handle.thread().clone());
        }
        Err(e) => {
            // Without the ticker a looping guest would only be stopped by the async timeout
            // around each invocation; say so loudly.
            tracing::error!(error = %e, "could not start the epoch ticker; deadlines fall back to the async timeout");
        }
    }
}

/// Ticks with no instance before the ticker sleeps: under steady traffic it stays awake,
/// so a call does not pay for waking it.
const IDLE_TICKS_BEFORE_SLEEP: u32 = 100;

fn run_ticker(inner: &Weak<Inner>) {
    let mut idle_ticks = 0;
    // The runtime is held only for a look, never across a sleep, so dropping it ends
    // the loop.
    while let Some(rt) = inner.upgrade() {
        idle_ticks = if rt.idle() { idle_ticks + 1 } else { 0 };
        if idle_ticks > IDLE_TICKS_BEFORE_SLEEP {
            rt.ticker.asleep.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let still_idle = rt.idle();
            drop(rt);
            if still_idle {
                std::thread::park_timeout(IDLE_SLEEP);
            }
            if let Some(rt) = inner.upgrade() {
                rt.ticker.asleep.store(false, Ordering::SeqCst);
            }
            // Still idle after the timeout: straight back to sleep on the next look.
            continue;
        }
        let engine = rt.engine.clone();
        drop(rt);
        std::thread::sleep(EPOCH_TICK);
        engine.increment_epoch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// How long a test waits for the ticker thread; never judged as a speed.
    const PATIENCE: Duration = Duration::from_secs(30);

    #[test]
    fn an_idle_runtime_stops_ticking() {
        let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
        let started = Instant::now();
        while !runtime.inner.ticker.asleep.load(Ordering::SeqCst) && started.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            runtime.inner.ticker.asleep.load(Ordering::SeqCst),
            "never slept"
        );
    }

    #[test]
    fn a_started_instance_wakes_a_sleeping_ticker() {
        // This thread plays the ticker: asleep, then parked with no timeout that matters.
        let ticker = Ticker {
            asleep: AtomicBool::new(true),
            thread: OnceLock::new(),
        };
        let _ = ticker.thread.set(std::thread::current());
        ticker.wake();
        let started = Instant::now();
        std::thread::park_timeout(PATIENCE);
        assert!(started.elapsed() < PATIENCE, "the ticker was not woken");
    }
}
