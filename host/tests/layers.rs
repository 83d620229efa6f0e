//! The layering of `keyway-host`, enforced: a back edge or a cycle between the crate's
//! top-level modules fails `cargo test`.
//!
//! Read top-down; each layer may import only the layers below it:
//!
//! | layer     | modules                                                   |
//! |-----------|-----------------------------------------------------------|
//! | edges     | `cli` (commands), `server` (`keyway serve`)               |
//! | use cases | `services`                                                |
//! | domain    | everything else (`manifest`, `oauth`, `custody`, `egress`, `runtime`, ...) |
//! | base      | `store`, `types` (and `redact`, which the store may use)  |
//!
//! So: nothing imports `cli`; only `cli` imports `server`; only the edges import
//! `services`; the store imports only `types` and `redact`; `types` imports nothing.
//! Modules of one layer may import each other as long as no cycle forms. The rules are
//! the tables [`IMPORTED_ONLY_BY`] and [`BASE`] below, plus "no cycle"; each violation is
//! one line `host/src/<file>: <module> imports <target>: <rule>`, each cycle one line.
//!
//! A module is the first path component under `host/src` (the file stem for a top-level
//! file); a reference is any `crate::x` path or `use crate::{x::.., y}` group, outside
//! comments and string literals (the parser is `layers/parse.rs`). `lib.rs` and `main.rs`
//! are skipped: they declare and dispatch. Must not: read anything but `host/src`, or depend on the crate it checks.

#[path = "layers/parse.rs"]
mod parse;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use parse::crate_refs;

/// Modules that only the listed modules may import (besides the module itself).
const IMPORTED_ONLY_BY: &[(&str, &[&str], &str)] = &[
    (
        "cli",
        &[],
        "nothing imports the CLI; main.rs dispatches to it",
    ),
    (
        "server",
        &["cli"],
        "only the CLI (`keyway serve`) starts the server; nothing below the edges imports it",
    ),
    (
        "services",
        &["cli", "server"],
        "the use cases are called from the edges (cli, server) only",
    ),
];

/// Base modules and the only modules each may import.
const BASE: &[(&str, &[&str], &str)] = &[
    (
        "store",
        &["types", "redact"],
        "the store is the bottom layer and imports only types and redact",
    ),
    (
        "types",
        &[],
        "types is the shared vocabulary and imports nothing",
    ),
];

/// One file's module and the top-level modules it refers to.
struct Source {
    file: String,
    module: String,
    refs: BTreeSet<String>,
}

#[test]
fn layers_point_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = read_sources(&root);
    assert!(
        sources.iter().any(|s| s.module == "runtime") && sources.len() > 20,
        "the walk of {} found too few files",
        root.display()
    );
    let mut problems = rule_violations(&sources);
    problems.extend(cycles(&graph(&sources)));
    assert!(
        problems.is_empty(),
        "{} layering violation(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn read_sources(root: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    collect_rs(root, &mut files);
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(root)
            .expect("walked under root")
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "lib.rs" || rel == "main.rs" {
            continue;
        }
        let module = module_of(&rel);
        let text = std::fs::read_to_string(&path).expect("source file is UTF-8");
        let mut refs = crate_refs(&text);
        refs.remove(&module);
        out.push(Source {
            file: format!("host/src/{rel}"),
            module,
            refs,
        });
    }
    out
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("readable directory entry").path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `runtime/cache.rs` -> `runtime`; `custody.rs` -> `custody`.
fn module_of(rel: &str) -> String {
    let first = rel.split('/').next().unwrap_or(rel);
    first.strip_suffix(".rs").unwrap_or(first).to_string()
}

fn rule_violations(sources: &[Source]) -> Vec<String> {
    let mut out = Vec::new();
    for s in sources {
        for target in &s.refs {
            for (imported, allowed, why) in IMPORTED_ONLY_BY {
                if target == imported && !allowed.contains(&s.module.as_str()) {
                    out.push(format!("{}: {} imports {target}: {why}", s.file, s.module));
                }
            }
            for (base, allowed, why) in BASE {
                if s.module == *base && !allowed.contains(&target.as_str()) {
                    out.push(format!("{}: {} imports {target}: {why}", s.file, s.module));
                }
            }
        }
    }
    out
}

/// Module -> imported module -> the first file (in path order) that makes the edge.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn graph(sources: &[Source]) -> Graph {
    let mut g = Graph::new();
    for s in sources {
        let edges = g.entry(s.module.clone()).or_default();
        for t in &s.refs {
            edges.entry(t.clone()).or_insert_with(|| s.file.clone());
        }
    }
    g
}

/// One line per strongly connected group of modules: the shortest cycle through its
/// first module, each edge with a file that makes it, and the whole group.
fn cycles(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for start in g.keys() {
        if done.contains(start) {
            continue;
        }
        let group: BTreeSet<&String> = g
            .keys()
            .filter(|m| reaches(g, start, m) && reaches(g, m, start))
            .collect();
        done.extend(group.iter().map(|m| (*m).clone()));
        let Some(path) = shortest_cycle(g, start) else {
            continue;
        };
        let edges: Vec<String> = path
            .windows(2)
            .map(|w| format!("{} -> {} ({})", w[0], w[1], g[&w[0]][&w[1]]))
            .collect();
        let members: Vec<&str> = group.iter().map(|m| m.as_str()).collect();
        out.push(format!(
            "cycle: {}; modules in the circle: {}",
            edges.join(", "),
            members.join(", ")
        ));
    }
    out
}

fn reaches(g: &Graph, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(m) = stack.pop() {
        for next in g.get(&m).into_iter().flat_map(|e| e.keys()) {
            if next == to {
                return true;
            }
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    false
}

/// Breadth-first from `start` back to `start`: `[start, .., start]`, or `None`.
fn shortest_cycle(g: &Graph, start: &str) -> Option<Vec<String>> {
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.to_string()]);
    while let Some(m) = queue.pop_front() {
        for next in g.get(&m).into_iter().flat_map(|e| e.keys()) {
            if next == start {
                let mut path = vec![start.to_string(), m.clone()];
                let mut at = m.clone();
                while let Some(p) = parent.get(&at) {
                    path.push(p.clone());
                    at = p.clone();
                }
                path.reverse();
                return Some(path);
            }
            if next != start && !parent.contains_key(next) {
                parent.insert(next.clone(), m.clone());
                queue.push_back(next.clone());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_of_a_file_is_its_first_component() {
        assert_eq!(module_of("runtime/cache.rs"), "runtime");
        assert_eq!(module_of("custody.rs"), "custody");
        assert_eq!(module_of("manifest/settings/env.rs"), "manifest");
    }

    #[test]
    fn a_circle_is_reported_with_its_edges() {
        let src = |m: &str, refs: &[&str]| Source {
            file: format!("host/src/{m}.rs"),
            module: m.to_string(),
            refs: refs.iter().map(|r| r.to_string()).collect(),
        };
        let sources = [
            src("a", &["b"]),
            src("b", &["c"]),
            src("c", &["a", "d"]),
            src("d", &[]),
        ];
        assert_eq!(
            cycles(&graph(&sources)),
            [
                "cycle: a -> b (host/src/a.rs), b -> c (host/src/b.rs), c -> a (host/src/c.rs); \
              modules in the circle: a, b, c"
            ]
        );
    }

    #[test]
    fn each_rule_names_the_file_and_the_edge() {
        let src = |m: &str, refs: &[&str]| Source {
            file: format!("host/src/{m}.rs"),
            module: m.to_string(),
            refs: refs.iter().map(|r| r.to_string()).collect(),
        };
        let violations =
            rule_violations(&[src("store", &["types", "runtime"]), src("oauth", &["cli"])]);
        assert_eq!(violations.len(), 2, "{violations:?}");
        assert!(violations[0].starts_with("host/src/store.rs: store imports runtime: "));
        assert!(violations[1].starts_with("host/src/oauth.rs: oauth imports cli: "));
        let allowed = rule_violations(&[
            src("cli", &["server", "services", "store"]),
            src("server", &["services", "runtime"]),
            src("services", &["custody", "store"]),
            src("store", &["types", "redact"]),
        ]);
        assert!(allowed.is_empty(), "{allowed:?}");
    }
}
