//! Finding PostgreSQL's programs: the first directory that holds all of [`NEEDED`], tried
//! in order: the directory of `initdb` on `PATH`, then that of the file it links to, then
//! Debian's `/usr/lib/postgresql/<version>/bin`, newest version first.
//!
//! Owns: the search and the message naming what is missing.
//! Must not: run anything it finds, or install anything (`scripts/setup` installs Debian's
//! `postgresql`).

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The programs the cluster needs, all from one installation.
pub(crate) const NEEDED: [&str; 4] = ["initdb", "postgres", "psql", "pg_isready"];

/// Where Debian installs each PostgreSQL version (`<version>/bin`).
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// A directory holding every program of [`NEEDED`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Programs {
    dir: PathBuf,
}

impl Programs {
    /// Searches `PATH`, then Debian's installation directories.
    pub(crate) fn find() -> Result<Programs, String> {
        find_in(std::env::var_os("PATH").as_deref(), Path::new(DEBIAN_ROOT))
    }

    /// The path of one of the [`NEEDED`] programs.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The search, with `PATH` and Debian's root given (tests give their own).
fn find_in(path_var: Option<&OsStr>, debian_root: &Path) -> Result<Programs, String> {
    let mut candidates = Vec::new();
    if let Some(initdb) = path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("initdb"))
        .find(|file| is_executable(file))
    {
        if let Some(dir) = initdb.parent() {
            candidates.push(dir.to_path_buf());
        }
        if let Some(dir) = fs::canonicalize(&initdb)
            .ok()
            .and_then(|real| real.parent().map(Path::to_path_buf))
        {
            candidates.push(dir);
        }
    }
    candidates.extend(debian_bin_dirs(debian_root));

    let mut incomplete = None;
    for dir in candidates {
        let missing: Vec<&str> = NEEDED
            .into_iter()
            .filter(|name| !is_executable(&dir.join(name)))
            .collect();
        if missing.is_empty() {
            return Ok(Programs { dir });
        }
        if incomplete.is_none() && !missing.contains(&"initdb") {
            incomplete = Some((dir, missing));
        }
    }
    Err(match incomplete {
        Some((dir, missing)) => format!(
            "{} has initdb but not {}: install Debian's postgresql (scripts/setup does)",
            dir.display(),
            missing.join(", ")
        ),
        None => format!(
            "initdb not found on PATH or under {DEBIAN_ROOT}/*/bin: install Debian's \
             postgresql (scripts/setup does)"
        ),
    })
}

/// `<root>/<version>/bin` for every version directory under `root`, newest first.
fn debian_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = parse_version(entry.file_name().to_str()?)?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// `"15"` → `[15]`, `"9.6"` → `[9, 6]`; anything else is not a version directory.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn is_executable(file: &Path) -> bool {
    fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install(dir: &Path, names: &[&str]) {
        fs::create_dir_all(dir).unwrap();
        for name in names {
            let file = dir.join(name);
            fs::write(&file, "").unwrap();
            fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn versions_order_numerically() {
        assert_eq!(parse_version("15"), Some(vec![15]));
        assert_eq!(parse_version("9.6"), Some(vec![9, 6]));
        assert_eq!(parse_version("lib"), None);
        assert!(parse_version("9.6") < parse_version("15"));
    }

    #[test]
    fn newest_complete_debian_version_wins() {
        let root = tempfile::tempdir().unwrap();
        install(&root.path().join("9.6/bin"), &NEEDED);
        install(&root.path().join("15/bin"), &NEEDED);
        install(&root.path().join("16/bin"), &["initdb"]);
        fs::create_dir_all(root.path().join("not-a-version/bin")).unwrap();
        let found = find_in(None, root.path()).unwrap();
        assert_eq!(found.path("psql"), root.path().join("15/bin/psql"));
    }

    #[test]
    fn path_comes_first_and_symlinks_lead_to_the_installation() {
        let root = tempfile::tempdir().unwrap();
        let installed = root.path().join("lib/postgresql/17/bin");
        install(&installed, &NEEDED);
        install(&root.path().join("debian/16/bin"), &NEEDED);
        // Like /usr/local/bin: initdb linked there, the clients not.
        let linked = root.path().join("local-bin");
        fs::create_dir_all(&linked).unwrap();
        std::os::unix::fs::symlink(installed.join("initdb"), linked.join("initdb")).unwrap();
        let path = std::env::join_paths([root.path().join("empty"), linked]).unwrap();
        let found = find_in(Some(&path), &root.path().join("debian")).unwrap();
        assert_eq!(
            found.path("initdb"),
            fs::canonicalize(&installed).unwrap().join("initdb")
        );
    }

    #[test]
    fn the_message_names_what_is_missing() {
        let root = tempfile::tempdir().unwrap();
        let err = find_in(None, root.path()).unwrap_err();
        assert!(err.starts_with("initdb not found"), "{err}");
        assert!(err.contains("install Debian's postgresql"), "{err}");
        install(&root.path().join("15/bin"), &["initdb", "postgres"]);
        let err = find_in(None, root.path()).unwrap_err();
        assert!(err.contains("has initdb but not psql, pg_isready"), "{err}");
    }
}
