//! The connectors under a host's search directories, indexed by key once: which
//! directory declares which key, and which keys more than one directory declares.
//!
//! Owns: finding connector directories ([`connector_dirs`]) and the rule that a key
//! declared by two directories is served by neither ([`AmbiguousKey`]), so the catalog,
//! the loaded components and the server's list can never pick different ones.
//! Must not: load components, or read anything but each directory's manifest.

use crate::manifest::{self, LoadedManifest, MANIFEST_FILE};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// The connector directories under `path`: itself when it holds a manifest, else its
/// subdirectories that do, sorted.
pub fn connector_dirs(path: &Path) -> Vec<PathBuf> {
    if path.join(MANIFEST_FILE).is_file() || path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join(MANIFEST_FILE).is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// The `key` a connector directory's manifest names, read as plain JSON (for a manifest
/// that does not validate).
fn declared_key(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(MANIFEST_FILE)).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    doc.get("key")?.as_str().map(str::to_string)
}

/// A path made comparable: resolved when it exists, as given otherwise.
pub(crate) fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// More than one connector directory declares the same key; none of them is served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "connector key `{key}` is declared by more than one connector directory: {}; none of them is served until the key is unique",
    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" and ")
)]
pub struct AmbiguousKey {
    pub key: String,
    /// Every directory declaring the key, in search order.
    pub dirs: Vec<PathBuf>,
}

struct Claim {
    dir: PathBuf,
    canonical: PathBuf,
    /// `None` when the manifest names the key but does not validate: it still claims
    /// the key, so fixing or breaking one directory can never hand another the key.
    manifest: Option<Arc<LoadedManifest>>,
}

/// Every connector directory under some search directories, and the keys they declare.
pub struct ConnectorIndex {
    /// Each connector directory once, in search order (as found, not canonicalized).
    dirs: Vec<PathBuf>,
    /// The directories whose manifest loaded, by the key they declare.
    by_key: BTreeMap<String, Vec<Claim>>,
    /// When the scan started: a manifest modified since may differ from the copy here.
    scanned_at: SystemTime,
}

impl ConnectorIndex {
    /// Reads the manifest of every connector directory under `search_dirs` (each a
    /// connector directory or a directory of them). A directory named twice, by any
    /// spelling, counts once; one whose manifest does not validate still claims the
    /// `key` it names, if it names one.
    pub(crate) fn scan(search_dirs: &[PathBuf]) -> ConnectorIndex {
        let scanned_at = SystemTime::now();
        let mut seen = HashMap::new();
        let mut dirs = Vec::new();
        let mut by_key: BTreeMap<String, Vec<Claim>> = BTreeMap::new();
        for search in search_dirs {
            for dir in connector_dirs(search) {
                let canonical = canonical(&dir);
                if seen.insert(canonical.clone(), ()).is_some() {
                    continue;
                }
                dirs.push(dir.clone());
                let (key, manifest) = match manifest::load_dir_or_file(&dir) {
                    Ok(loaded) => (
                        Some(loaded.connector.key().to_string()),
                        Some(Arc::new(loaded)),
                    ),
                    Err(_) => (declared_key(&dir), None),
                };
                if let Some(key) = key {
                    by_key.entry(key).or_default().push(Claim {
                        dir,
                        canonical,
                        manifest,
                    });
                }
            }
        }
        ConnectorIndex {
            dirs,
            by_key,
            scanned_at,
        }
    }

    /// When the directories were read.
    pub(crate) fn scanned_at(&self) -> SystemTime {
        self.scanned_at
    }

    /// Every connector directory found, in search order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The manifest of the one directory declaring `key`: `None` when no directory does,
    /// an error naming every directory when more than one does.
    pub(crate) fn by_key(&self, key: &str) -> Result<Option<Arc<LoadedManifest>>, AmbiguousKey> {
        match self.by_key.get(key).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(one.manifest.clone()),
            Some(claims) => Err(AmbiguousKey {
                key: key.to_string(),
                dirs: claims.iter().map(|c| c.dir.clone()).collect(),
            }),
        }
    }

    /// `loaded` (read from a directory someone named) checked against the index: an
    /// error naming every directory when another directory declares the same key. When
    /// the directory is one of the index's, the index's own manifest is returned, so that
    /// every spelling of a directory yields the same manifest.
    pub fn check(&self, loaded: LoadedManifest) -> Result<Arc<LoadedManifest>, AmbiguousKey> {
        match self.claim_of(&loaded)? {
            Some(Claim {
                manifest: Some(indexed),
                ..
            }) => Ok(indexed.clone()),
            _ => Ok(Arc::new(loaded)),
        }
    }

    /// Like [`check`](Self::check), but keeps `loaded` (read again after its file changed)
    /// instead of the index's older copy.
    pub(crate) fn check_fresh(
        &self,
        loaded: LoadedManifest,
    ) -> Result<Arc<LoadedManifest>, AmbiguousKey> {
        self.claim_of(&loaded)?;
        Ok(Arc::new(loaded))
    }

    /// The index's claim for `loaded`'s directory when it is the one directory claiming
    /// its key; an error naming every directory when another directory claims it too.
    fn claim_of(&self, loaded: &LoadedManifest) -> Result<Option<&Claim>, AmbiguousKey> {
        let key = loaded.connector.key().to_string();
        let claims = self.by_key.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let here = canonical(&loaded.dir);
        let mine = claims.iter().find(|c| c.canonical == here);
        match (claims, mine) {
            ([], _) => Ok(None),
            ([one], Some(_)) => Ok(Some(one)),
            (_, Some(_)) => Err(AmbiguousKey {
                key,
                dirs: claims.iter().map(|c| c.dir.clone()).collect(),
            }),
            (_, None) => Err(AmbiguousKey {
                key,
                dirs: claims
                    .iter()
                    .map(|c| c.dir.clone())
                    .chain([loaded.dir.clone()])
                    .collect(),
            }),
        }
    }

    /// Why the connector directory `dir` is not served because of its key, if it is not.
    pub fn ambiguity(&self, dir: &Path) -> Option<AmbiguousKey> {
        let here = canonical(dir);
        self.by_key.iter().find_map(|(key, claims)| {
            (claims.len() > 1 && claims.iter().any(|c| c.canonical == here)).then(|| AmbiguousKey {
                key: key.clone(),
                dirs: claims.iter().map(|c| c.dir.clone()).collect(),
            })
        })
    }
}

/// Writes a minimal connector directory `root/dir` declaring `key`, for tests.
#[cfg(test)]
pub(super) fn test_connector(root: &Path, dir: &str, key: &str) -> PathBuf {
    let path = root.join(dir);
    std::fs::create_dir_all(&path).expect("mkdir");
    let manifest = serde_json::json!({
        "key": key, "name": key, "provider": "none", "kind": "source",
        "version": "0.1.0", "permissions": { "http": [] }, "connection": {}
    });
    std::fs::write(path.join(MANIFEST_FILE), manifest.to_string()).expect("manifest");
    path
}

#[cfg(test)]
mod tests {
    use super::test_connector as connector;
    use super::*;

    #[test]
    fn a_key_declared_twice_is_served_by_neither_and_the_error_names_both() {
        let root = tempfile::tempdir().expect("tempdir");
        let strict = connector(root.path(), "strict", "dup");
        let shadow = connector(root.path(), "shadow", "dup");
        let other = connector(root.path(), "other", "other");
        let index = ConnectorIndex::scan(&[root.path().to_path_buf()]);
        assert_eq!(index.dirs().len(), 3);

        let err = index.by_key("dup").expect_err("ambiguous");
        assert_eq!(err.dirs, vec![shadow.clone(), strict.clone()]);
        let text = err.to_string();
        assert!(text.contains(&strict.display().to_string()), "{text}");
        assert!(text.contains(&shadow.display().to_string()), "{text}");
        for dir in [&strict, &shadow] {
            let loaded = manifest::load_dir_or_file(dir).expect("loads");
            assert!(index.check(loaded).is_err());
            assert!(index.ambiguity(dir).is_some());
        }
        let found = index.by_key("other").expect("unique").expect("found");
        assert_eq!(found.connector.key(), "other");
        assert!(index.ambiguity(&other).is_none());
        assert!(index.by_key("missing").expect("not ambiguous").is_none());
    }

    #[test]
    fn a_directory_named_twice_is_one_claim_and_outsiders_with_a_known_key_conflict() {
        let root = tempfile::tempdir().expect("tempdir");
        let one = connector(&root.path().join("connectors"), "one", "one");
        // The same directory through its parent and by itself, with another spelling.
        let index = ConnectorIndex::scan(&[
            root.path().join("connectors"),
            root.path().join("connectors/./one"),
        ]);
        assert_eq!(index.dirs().len(), 1);
        let via_index = index.by_key("one").expect("unique").expect("found");
        let loaded = manifest::load_dir_or_file(&one).expect("loads");
        let checked = index.check(loaded).expect("same directory");
        assert!(Arc::ptr_eq(&via_index, &checked));

        let outsider = connector(root.path(), "elsewhere", "one");
        let loaded = manifest::load_dir_or_file(&outsider).expect("loads");
        let err = index
            .check(loaded)
            .expect_err("a second directory for `one`");
        assert_eq!(err.dirs, vec![one, outsider]);
    }

    #[test]
    fn an_invalid_manifest_still_claims_its_key() {
        let root = tempfile::tempdir().expect("tempdir");
        let strict = connector(root.path(), "strict", "dup");
        // The strict connector's manifest breaks (an upgrade, a typo): the shadow one
        // must not inherit the key and the connections made for it.
        std::fs::write(
            strict.join(MANIFEST_FILE),
            r#"{ "key": "dup", "name": "Dup", "kind": "nonsense" }"#,
        )
        .expect("manifest");
        let shadow = connector(root.path(), "shadow", "dup");
        let index = ConnectorIndex::scan(&[root.path().to_path_buf()]);
        let err = index.by_key("dup").expect_err("ambiguous");
        assert_eq!(err.dirs, vec![shadow.clone(), strict]);
        assert!(index.ambiguity(&shadow).is_some());
        let loaded = manifest::load_dir_or_file(&shadow).expect("loads");
        assert!(index.check(loaded).is_err());
    }
}
