//! What one test process shares: the tokio runtime the synchronous API blocks on, the
//! Keyway `Runtime` (engine, linker, epoch ticker, compiled-component cache), and each
//! connector crate built and loaded once (so parallel tests wait for one build instead of
//! racing several).
//!
//! This module owns process-wide state. It must not hold anything of one test runtime
//! (settings, tokens, mocks): those live in each `TestRuntime`.

use crate::Error;
use crate::compile::{self, Compiled};
use keyway_host::registry::{self, LoadedConnector};
use keyway_host::runtime::{Runtime, RuntimeConfig};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

static TOKIO: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
type Slot = Arc<OnceLock<Result<Arc<LoadedConnector>, Error>>>;
static CONNECTORS: OnceLock<Mutex<HashMap<PathBuf, Slot>>> = OnceLock::new();

fn tokio_runtime() -> Result<&'static tokio::runtime::Runtime, Error> {
    TOKIO
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("keyway-testing")
                .enable_all()
                .build()
                .map_err(|e| format!("could not start the test runtime's tokio runtime: {e}"))
        })
        .as_ref()
        .map_err(|e| Error::Setup(e.clone()))
}

/// Runs `fut` to completion on the shared tokio runtime. Called from inside another
/// runtime (a `#[tokio::test]`), it blocks on a scoped thread instead of panicking.
pub(crate) fn block_on<F>(fut: F) -> Result<F::Output, Error>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = tokio_runtime()?;
    if tokio::runtime::Handle::try_current().is_ok() {
        return std::thread::scope(|s| {
            s.spawn(move || rt.block_on(fut))
                .join()
                .map_err(|_| Error::Setup("a route call panicked".into()))
        });
    }
    Ok(rt.block_on(fut))
}

/// The process's Keyway runtime; its compiled-component cache lives beside the first
/// component built.
fn keyway_runtime(compiled: &Compiled) -> Result<Runtime, Error> {
    RUNTIME
        .get_or_init(|| {
            Runtime::new(RuntimeConfig {
                cache_dir: Some(compiled.target_dir.join("component-cache")),
                ..RuntimeConfig::default()
            })
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(Error::Setup)
}

/// The connector crate in `dir`, built and loaded once per process.
pub(crate) fn connector(dir: &Path) -> Result<Arc<LoadedConnector>, Error> {
    let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let slot = {
        let map = CONNECTORS.get_or_init(|| Mutex::new(HashMap::new()));
        let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.clone()).or_default().clone()
    };
    slot.get_or_init(|| {
        let compiled = compile::compile(&key)?;
        let runtime = keyway_runtime(&compiled)?;
        let loaded = block_on(registry::load(&runtime, &key, Some(&compiled.wasm)))?
            .map_err(|e| Error::Load(format!("{} ({}): {e}", compiled.package, key.display())))?;
        Ok(Arc::new(loaded))
    })
    .clone()
}
