//! The results of one run: the machine it ran on, one table per section with every figure
//! beside its baseline, and every target with whether it was met. Written as Markdown
//! (`results.md`) and JSON (`results.json`).

use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// One section's table and figures.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub title: String,
    /// What was measured and how, in one or two sentences.
    pub method: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
    /// The raw figures, for machines.
    pub figures: Value,
}

impl Section {
    pub fn new(title: &str, method: &str, columns: &[&str]) -> Section {
        Section {
            title: title.to_string(),
            method: method.to_string(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
            figures: Value::Object(Default::default()),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn figure(&mut self, key: &str, value: Value) {
        if let Value::Object(map) = &mut self.figures {
            map.insert(key.to_string(), value);
        }
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("## {}\n\n{}\n\n", self.title, self.method);
        let _ = writeln!(out, "| {} |", self.columns.join(" | "));
        let align: Vec<&str> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---" } else { "---:" })
            .collect();
        let _ = writeln!(out, "|{}|", align.join("|"));
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        for note in &self.notes {
            let _ = write!(out, "\n{note}\n");
        }
        out
    }
}

/// A target from the performance issue and where this run puts it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub what: String,
    pub target: String,
    pub measured: String,
    pub met: bool,
}

/// What the run ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
    pub profile: &'static str,
    pub commit: String,
    pub started_unix: u64,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Machine {
            cpu,
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory_gib: (mem_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            kernel,
            rustc: command_line("rustc", &["--version"]),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            commit: command_line("git", &["rev-parse", "--short", "HEAD"]),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

/// The first line a command prints, or `unknown`.
pub fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub sections: Vec<Section>,
    pub targets: Vec<Target>,
    /// Sections that could not run, with why.
    pub failed: Vec<String>,
}

impl Report {
    pub fn new() -> Report {
        Report {
            machine: Machine::read(),
            sections: Vec::new(),
            targets: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Adds a finished section and prints it at once, so a long run shows progress.
    pub fn add(&mut self, section: Section, targets: Vec<Target>) {
        println!("{}", section.markdown());
        for t in &targets {
            println!(
                "target: {} {} -> {}: {}",
                t.what,
                t.target,
                t.measured,
                met(t.met)
            );
        }
        println!();
        self.sections.push(section);
        self.targets.extend(targets);
    }

    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::from("# Keyway benchmark results\n\n");
        let _ = writeln!(
            out,
            "Machine: {} ({} cores, {} GiB), Linux {}; {}; {} build of commit {}.\n",
            m.cpu, m.cores, m.memory_gib, m.kernel, m.rustc, m.profile, m.commit
        );
        out.push_str("## Targets\n\n| what | target | measured | |\n|---|---|---|---|\n");
        for t in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                t.what,
                t.target,
                t.measured,
                met(t.met)
            );
        }
        for f in &self.failed {
            let _ = writeln!(out, "\n**Not measured**: {f}");
        }
        out.push('\n');
        for s in &self.sections {
            out.push_str(&s.markdown());
            out.push('\n');
        }
        out
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        use anyhow::Context as _;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let md = dir.join("results.md");
        std::fs::write(&md, self.markdown())
            .with_context(|| format!("writing {}", md.display()))?;
        let json = dir.join("results.json");
        std::fs::write(&json, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", json.display()))?;
        println!("wrote {} and {}", md.display(), json.display());
        Ok(())
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}
