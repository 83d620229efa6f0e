//! What the suite's hosts leave behind, kept for one canary sweep after the whole suite:
//! host log lines, `keyway serve` output, the answers of its API and callback page,
//! copies of the servers' data directories and, on PostgreSQL, what their databases hold
//! (`database-*`). `scripts/test` points `KEYWAY_TEST_ARTIFACTS` at a fresh directory,
//! runs every test, then runs the `canary-sweep` binary over it; with the variable unset
//! nothing is kept.
//!
//! Every secret a test plants has `canary` in its value (`canary-access-token-…`); secrets
//! a test cannot name that way (random API keys, the admin key) are registered with
//! [`canary`]. Nothing here may print a value it keeps.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The variable naming the artifacts directory.
pub const ENV: &str = "KEYWAY_TEST_ARTIFACTS";

/// The artifacts directory, when the suite keeps artifacts.
pub fn dir() -> Option<PathBuf> {
    std::env::var_os(ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `<test binary>-<pid>`: one file per process and kind, so processes never interleave.
fn stem() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "test".into());
    format!("{exe}-{}", std::process::id())
}

/// Appends `bytes` to this process's file of `kind` (`logs`, `answers`, ...).
pub fn append(kind: &str, bytes: &[u8]) {
    let Some(root) = dir() else { return };
    let folder = root.join(kind);
    if std::fs::create_dir_all(&folder).is_err() {
        return;
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(folder.join(format!("{}.txt", stem())))
    {
        let _ = f.write_all(bytes);
    }
}

/// Registers a secret whose value does not say `canary` (a random key), for the sweep.
pub fn canary(value: &str) {
    append("canaries", format!("{value}\n").as_bytes());
}

/// Copies the directory tree at `src` (a server's data directory) into the artifacts.
pub fn keep_dir(label: &str, src: &Path) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let Some(root) = dir() else { return };
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dest = root.join("data").join(format!("{}-{n}-{label}", stem()));
    copy_tree(src, &dest);
}

/// [`keep_dir`] of the data directory `data_dir`, and on PostgreSQL its store's database
/// too ([`keep_database`]), which is not in the directory.
pub fn keep_store(label: &str, data_dir: &Path) {
    keep_dir(label, data_dir);
    if let Some(url) = crate::backend::database_for(data_dir) {
        keep_database(label, &url);
    }
}

/// Keeps everything the PostgreSQL database at `url` holds (`backend::database_bytes`).
/// Never panics (it runs in `Drop`): a database that cannot be read is said on stderr.
pub fn keep_database(label: &str, url: &str) {
    if dir().is_none() {
        return;
    }
    match crate::backend::try_database_bytes(url) {
        Ok(bytes) => append(&format!("database-{label}"), &bytes),
        Err(e) => eprintln!("keeping the {label} database for the canary sweep: {e}"),
    }
}

fn copy_tree(src: &Path, dest: &Path) {
    let Ok(entries) = std::fs::read_dir(src) else {
        return;
    };
    if std::fs::create_dir_all(dest).is_err() {
        return;
    }
    for entry in entries.flatten() {
        let path = entry.path();
        let target = dest.join(entry.file_name());
        match entry.file_type() {
            Ok(t) if t.is_dir() => copy_tree(&path, &target),
            Ok(t) if t.is_file() => {
                let _ = std::fs::copy(&path, &target);
            }
            _ => {}
        }
    }
}
