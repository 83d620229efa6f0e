//! The suite's last step: reads everything `KEYWAY_TEST_ARTIFACTS` kept (host log
//! lines, `keyway serve` output, API and callback answers, copies of data directories,
//! SQLite files and their journals included, and on PostgreSQL runs every value of the
//! servers' databases) and fails if any planted secret is in it.
//!
//! Needles: the word `canary`, which every planted secret's value carries, the prefixes
//! of the sandbox provider's tokens, and every value a test registered (random API keys,
//! the admin key, tokens a real provider issued). The key files of a data
//! directory (`admin.key`, `master.key`) hold keys by design (0600) and are skipped by
//! name. Usage: `canary-sweep <artifacts dir>`; exits 1 on a find or when there is
//! nothing to read (a sweep over nothing proves nothing).

use aho_corasick::AhoCorasick;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Files that hold keys by design.
const KEY_FILES: &[&str] = &["admin.key", "master.key"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}

fn main() -> ExitCode {
    let Some(root) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: canary-sweep <artifacts dir>");
        return ExitCode::from(2);
    };
    // Planted secrets say `canary`; the built-in sandbox provider's tokens are random
    // behind a fixed prefix.
    let mut needles = vec![
        "canary".to_string(),
        "sbx_at_".to_string(),
        "sbx_rt_".to_string(),
    ];
    let mut registered = Vec::new();
    files(&root.join("canaries"), &mut registered);
    for file in &registered {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        needles.extend(text.lines().filter(|l| l.len() >= 8).map(str::to_string));
    }
    needles.sort();
    needles.dedup();
    let registered_values = needles.len() - 3;
    let Ok(matcher) = AhoCorasick::new(&needles) else {
        eprintln!("canary sweep: could not build the matcher");
        return ExitCode::FAILURE;
    };
    let mut all = Vec::new();
    files(&root, &mut all);
    let canaries_dir = root.join("canaries");
    let (mut scanned, mut bytes, mut skipped, mut found) = (0usize, 0u64, 0usize, 0usize);
    for file in all {
        if file.starts_with(&canaries_dir) {
            continue;
        }
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if KEY_FILES.contains(&name) {
            skipped += 1;
            continue;
        }
        let Ok(data) = std::fs::read(&file) else {
            continue;
        };
        scanned += 1;
        bytes += data.len() as u64;
        for m in matcher.find_iter(&data) {
            found += 1;
            if found <= 20 {
                let from = m.start().saturating_sub(60);
                let to = (m.end() + 60).min(data.len());
                let rel = file.strip_prefix(&root).unwrap_or(&file);
                eprintln!(
                    "canary sweep: {} at byte {}: …{}…",
                    rel.display(),
                    m.start(),
                    String::from_utf8_lossy(&data[from..to]).replace('\n', "⏎")
                );
            }
        }
    }
    println!(
        "canary sweep: {scanned} files, {bytes} bytes, {} needles ({} registered values), {skipped} key files skipped: {}",
        needles.len(),
        registered_values,
        if found == 0 {
            "no planted secret found".to_string()
        } else {
            format!("{found} finds")
        }
    );
    if scanned == 0 {
        eprintln!("canary sweep: nothing to read under {}", root.display());
        return ExitCode::FAILURE;
    }
    if found > 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
