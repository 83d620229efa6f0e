//! The connectors a host serves: its connector directories, and the one cache of what was
//! read from them (a validated manifest, and once asked for, its loaded component).
//!
//! Owns: turning a reference (a key, or a connector directory or manifest path) into a
//! manifest or a loaded connector; the rule that a key two directories declare is served by
//! neither and that a directory named later cannot take over a key already served
//! ([`index`]); reloading an entry when its manifest or component file changed on disk
//! (looked at no more often than [`RECHECK`]); the start-up report of what loaded.
//! Must not: validate manifests or settings itself (the `manifest` module does), run
//! routes (`runtime`), or know about connections.

mod index;

pub(crate) use index::AmbiguousKey;
pub(crate) use index::ConnectorIndex;
pub(crate) use index::canonical;
pub use index::connector_dirs;

use crate::manifest::{self, LoadedManifest, MANIFEST_FILE, ManifestError};
use crate::registry::{self, LoadedConnector, RegistryError};
use crate::runtime::{LoadError, Runtime, RuntimeConfig};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock};

use arc_swap::ArcSwap;
use std::time::{Duration, Instant, SystemTime};

/// How long a cache entry is trusted before its files are looked at again.
pub(crate) const RECHECK: Duration = Duration::from_secs(1);

/// Why a connector reference could not be served. Every variant names the reference, the
/// directory or the file.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "no connector `{reference}`: not a connector directory, and no connector with that key under {searched}"
    )]
    NotFound { reference: String, searched: String },
    #[error(transparent)]
    Ambiguous(#[from] AmbiguousKey),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Load(#[from] RegistryError),
    #[error("starting the component runtime: {0}")]
    Runtime(#[from] LoadError),
}

/// How a caller may name a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Only by the key of a connector under the search directories (callers over the
    /// network, who must not point the host at arbitrary directories).
    KeyOnly,
    /// By key, or by a connector directory or manifest path (the operator's CLI).
    KeyOrPath,
}

/// A connector directory that could not be loaded at start-up, and why.
#[derive(Debug, Clone)]
pub(crate) struct Skipped {
    pub dir: PathBuf,
    pub error: String,
}

/// What [`Catalog::load_all`] found: the keys that loaded, sorted, and the rest.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadReport {
    pub loaded: Vec<String>,
    pub skipped: Vec<Skipped>,
}

/// A file's identity for change detection.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Option<(SystemTime, u64)>);

impl Stamp {
    fn of(path: &Path) -> Stamp {
        Stamp(
            std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len()))),
        )
    }
}

/// One connector as read: its manifest and, once asked for, its loaded component.
struct Entry {
    manifest: Arc<LoadedManifest>,
    manifest_stamp: Stamp,
    loaded: tokio::sync::OnceCell<(Arc<LoadedConnector>, Stamp)>,
    /// When the files were last looked at ([`clock_ms`]); an atomic, as every route call
    /// passes here.
    checked_ms: AtomicU64,
}

impl Entry {
    fn new(manifest: Arc<LoadedManifest>) -> Arc<Entry> {
        Arc::new(Entry {
            manifest_stamp: Stamp::of(&manifest.path),
            manifest,
            loaded: tokio::sync::OnceCell::new(),
            checked_ms: AtomicU64::new(clock_ms()),
        })
    }

    /// Makes the next use look at the files, however recently they were looked at.
    #[cfg(test)]
    fn look_again(&self) {
        self.checked_ms.store(LOOK_NOW, Ordering::Release);
    }

    /// Whether the files behind this entry are as they were read. Looks at the disk at
    /// most once per [`RECHECK`].
    fn is_current(&self) -> bool {
        let now = clock_ms();
        let last = self.checked_ms.load(Ordering::Acquire);
        // One caller looks at the disk; the others meanwhile go on with what was read.
        if (last != LOOK_NOW && now.saturating_sub(last) < RECHECK_MS)
            || self
                .checked_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return true;
        }
        if Stamp::of(&self.manifest.path) != self.manifest_stamp {
            return false;
        }
        match self.loaded.get() {
            Some((loaded, stamp)) => Stamp::of(&loaded.component_path) == *stamp,
            None => true,
        }
    }
}

/// Whether `path` may have been modified after `since` (or cannot be read: look again).
/// File times come from a coarser clock than `SystemTime::now`, so a second of margin.
fn modified_since(path: &Path, since: SystemTime) -> bool {
    let since = since.checked_sub(RECHECK).unwrap_or(since);
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_or(true, |t| t >= since)
}

/// Milliseconds on a monotonic clock that starts with the process.
fn clock_ms() -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    u64::try_from(START.elapsed().as_millis()).unwrap_or(u64::MAX)
}

const RECHECK_MS: u64 = RECHECK.as_millis() as u64;

/// `Entry::checked_ms` for an entry whose files are to be looked at on its next use.
const LOOK_NOW: u64 = u64::MAX;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The connectors a host knows: directories to look keys up in, and what was read.
pub struct Catalog {
    search_dirs: Vec<PathBuf>,
    /// What the search directories hold, read on first use.
    index: OnceLock<ConnectorIndex>,
    runtime_config: RuntimeConfig,
    /// Built on the first component load, so commands that read only manifests never
    /// start a compiler.
    runtime: tokio::sync::OnceCell<Runtime>,
    /// By reference (as asked) and by key: read by every route call without a lock,
    /// replaced whole by a writer holding `writing`.
    entries: ArcSwap<HashMap<String, Arc<Entry>>>,
    writing: Mutex<()>,
}

impl Catalog {
    /// A catalog that resolves connector keys in `search_dirs` (each a directory of
    /// connector directories, or a connector directory itself) and loads components with
    /// a runtime built from `runtime_config`.
    pub fn new(search_dirs: Vec<PathBuf>, runtime_config: RuntimeConfig) -> Catalog {
        Catalog {
            search_dirs,
            index: OnceLock::new(),
            runtime_config,
            runtime: tokio::sync::OnceCell::new(),
            entries: ArcSwap::from_pointee(HashMap::new()),
            writing: Mutex::new(()),
        }
    }

    /// The index of the search directories (read once).
    pub fn index(&self) -> &ConnectorIndex {
        self.index
            .get_or_init(|| ConnectorIndex::scan(&self.search_dirs))
    }

    /// The runtime components are loaded into, started on first use.
    pub async fn runtime(&self) -> Result<&Runtime, CatalogError> {
        Ok(self
            .runtime
            .get_or_try_init(|| async { Runtime::new(self.runtime_config.clone()) })
            .await?)
    }

    fn entry(&self, reference: &str, lookup: Lookup) -> Result<Arc<Entry>, CatalogError> {
        let cached = self.entries.load().get(reference).cloned();
        if let Some(hit) = cached {
            if hit.is_current() {
                return Ok(hit);
            }
            let fresh = self.reread(&hit)?;
            if fresh.connector.key() == hit.manifest.connector.key() {
                return self.remember(reference, fresh, Some(&hit));
            }
            // The directory now declares another key: forget it, then look the reference
            // up afresh (a key it no longer declares is not found).
            {
                let _writing = lock(&self.writing);
                let mut entries = HashMap::clone(&self.entries.load());
                entries.retain(|_, e| !Arc::ptr_eq(e, &hit));
                self.entries.store(Arc::new(entries));
            }
            let manifest = self.read(reference, lookup)?;
            return self.remember(reference, manifest, None);
        }
        let manifest = self.read(reference, lookup)?;
        self.remember(reference, manifest, None)
    }

    fn read(&self, reference: &str, lookup: Lookup) -> Result<Arc<LoadedManifest>, CatalogError> {
        let path = Path::new(reference);
        let is_path = path.join(MANIFEST_FILE).is_file() || path.is_file();
        if is_path && lookup == Lookup::KeyOrPath {
            return Ok(self.index().check(manifest::load_dir_or_file(path)?)?);
        }
        match self.index().by_key(reference)? {
            // Changed since the scan (it may not even declare this key any more): read it
            // again, and serve it only if it still does.
            Some(found) if modified_since(&found.path, self.index().scanned_at()) => {
                let fresh = self
                    .index()
                    .check_fresh(manifest::load_dir_or_file(&found.dir)?)?;
                if fresh.connector.key() == reference {
                    Ok(fresh)
                } else {
                    Err(self.not_found(reference))
                }
            }
            Some(found) => Ok(found),
            None => Err(self.not_found(reference)),
        }
    }

    /// `stale`'s manifest read again from its directory, after its files changed.
    fn reread(&self, stale: &Entry) -> Result<Arc<LoadedManifest>, CatalogError> {
        let fresh = manifest::load_dir_or_file(&stale.manifest.dir)?;
        Ok(self.index().check_fresh(fresh)?)
    }

    fn remember(
        &self,
        reference: &str,
        manifest: Arc<LoadedManifest>,
        replaces: Option<&Arc<Entry>>,
    ) -> Result<Arc<Entry>, CatalogError> {
        let key = manifest.connector.key().to_string();
        let _writing = lock(&self.writing);
        let mut entries = HashMap::clone(&self.entries.load());
        // A directory outside the index may not take over a key already served.
        if let Some(served) = entries.get(&key)
            && !replaces.is_some_and(|old| Arc::ptr_eq(old, served))
            && index::canonical(&served.manifest.dir) != index::canonical(&manifest.dir)
        {
            return Err(AmbiguousKey {
                key,
                dirs: vec![served.manifest.dir.clone(), manifest.dir.clone()],
            }
            .into());
        }
        // The key's entry, unless it is the stale one being replaced, is this directory's
        // (checked above): every spelling of the directory shares it.
        let entry = match entries.get(&key) {
            Some(same) if !replaces.is_some_and(|old| Arc::ptr_eq(old, same)) => same.clone(),
            _ => Entry::new(manifest),
        };
        if let Some(old) = replaces {
            entries.retain(|_, e| !Arc::ptr_eq(e, old));
        }
        entries.insert(reference.to_string(), entry.clone());
        entries.insert(key, entry.clone());
        self.entries.store(Arc::new(entries));
        Ok(entry)
    }

    /// The manifest for `reference`. A key more than one directory declares is refused,
    /// whichever way it is asked for, with an error naming them all.
    pub fn manifest(
        &self,
        reference: &str,
        lookup: Lookup,
    ) -> Result<Arc<LoadedManifest>, CatalogError> {
        Ok(self.entry(reference, lookup)?.manifest.clone())
    }

    /// The loaded connector (manifest and component) for `reference`, loaded once per
    /// version of its files.
    pub async fn connector(
        &self,
        reference: &str,
        lookup: Lookup,
    ) -> Result<Arc<LoadedConnector>, CatalogError> {
        let entry = self.entry(reference, lookup)?;
        let runtime = self.runtime().await?;
        let (loaded, _) = entry
            .loaded
            .get_or_try_init(|| async {
                let loaded = registry::load(runtime, &entry.manifest.dir, None).await?;
                let stamp = Stamp::of(&loaded.component_path);
                Ok::<_, CatalogError>((Arc::new(loaded), stamp))
            })
            .await?;
        Ok(loaded.clone())
    }

    /// Loads every connector under the search directories; one that cannot be loaded is
    /// reported with why, and the others still load.
    pub(crate) async fn load_all(&self) -> LoadReport {
        let mut report = LoadReport::default();
        for dir in &self.search_dirs {
            for candidate in connector_dirs(dir) {
                let reference = candidate.display().to_string();
                match self.connector(&reference, Lookup::KeyOrPath).await {
                    Ok(c) => {
                        let key = c.connector().key().to_string();
                        tracing::info!(connector = %key, dir = %reference, "connector loaded");
                        report.loaded.push(key);
                    }
                    Err(e) => {
                        let error = e.to_string();
                        tracing::warn!(dir = %reference, %error, "connector skipped");
                        report.skipped.push(Skipped {
                            dir: candidate,
                            error,
                        });
                    }
                }
            }
        }
        report.loaded.sort();
        report.loaded.dedup();
        report
    }

    fn not_found(&self, reference: &str) -> CatalogError {
        let dirs: Vec<String> = self
            .search_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        CatalogError::NotFound {
            reference: reference.to_string(),
            searched: if dirs.is_empty() {
                "(no --connectors directories)".to_string()
            } else {
                dirs.join(", ")
            },
        }
    }
}

#[cfg(test)]
mod tests;
