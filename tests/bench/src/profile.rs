//! Profiles as files (`keyway-bench --profile`): `perf record -g` attached to a running
//! server while it is loaded, then `perf report --stdio --no-children` text of its top
//! entries, with the raw `perf.data` kept beside it when it is small.
//!
//! It only records and writes files; when perf cannot run here it says why and the
//! caller goes on without profiles. It must not change what is measured.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A raw recording larger than this is dropped once its report is written.
const KEEP_DATA_UP_TO: u64 = 32 << 20;
/// Report entries below this share of the samples are left out.
const PERCENT_LIMIT: &str = "0.5";

pub struct Profiler {
    dir: PathBuf,
}

/// `perf record` running against one process.
pub struct Recording {
    child: Child,
    data: PathBuf,
    report: PathBuf,
    title: String,
}

/// What a finished recording left on disk.
pub struct Profile {
    pub report: PathBuf,
    /// The raw recording, when it was small enough to keep.
    pub data: Option<PathBuf>,
}

impl Profiler {
    /// Ready to write into `dir`, or why perf cannot record here (it is tried once on
    /// this process, the way the real recordings attach).
    pub fn new(dir: &Path) -> Result<Profiler, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let probe = dir.join("probe.perf.data");
        let out = Command::new("perf")
            .args(["record", "-q", "-g", "-p"])
            .arg(std::process::id().to_string())
            .arg("-o")
            .arg(&probe)
            .args(["--", "sleep", "0.1"])
            .stdin(Stdio::null())
            .output();
        let _ = std::fs::remove_file(&probe);
        match out {
            Err(e) => Err(format!(
                "perf is not installed ({e}); scripts/bench --profile installs linux-perf"
            )),
            Ok(o) if !o.status.success() => Err(format!(
                "perf record cannot attach here ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Ok(_) => Ok(Profiler {
                dir: dir.to_path_buf(),
            }),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts `perf record -g` on `pid` for `duration`, to be written as `<name>.txt`.
    pub fn attach(
        &self,
        pid: u32,
        duration: Duration,
        name: &str,
        title: String,
    ) -> anyhow::Result<Recording> {
        let data = self.dir.join(format!("{name}.perf.data"));
        let child = Command::new("perf")
            .args(["record", "-q", "-g", "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(&data)
            .args(["--", "sleep"])
            .arg(format!("{:.1}", duration.as_secs_f64()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting perf record")?;
        // perf needs a moment to open its events before the load starts.
        std::thread::sleep(Duration::from_millis(200));
        Ok(Recording {
            child,
            data,
            report: self.dir.join(format!("{name}.txt")),
            title,
        })
    }
}

impl Recording {
    /// Waits for perf to finish, writes the report, and keeps the raw data if small.
    pub fn finish(self) -> anyhow::Result<Profile> {
        let out = self
            .child
            .wait_with_output()
            .context("waiting for perf record")?;
        if !out.status.success() {
            let _ = std::fs::remove_file(&self.data);
            bail!(
                "perf record failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let by_object = report(&self.data, &["-g", "none", "--sort", "dso"])?;
        let flat = report(&self.data, &["-g", "none"])?;
        let graphs = report(&self.data, &[])?;
        let text = format!(
            "# {}\n# perf record -g, reported with --no-children (self time), entries over \
             {PERCENT_LIMIT}%:\n# the share of each object, the flat list, then each entry's call \
             chains.\n# Code compiled from wasm has no symbols here (it shows as `[JIT]`).\n\n\
             {by_object}\n\n{flat}\n\n{graphs}\n",
            self.title
        );
        std::fs::write(&self.report, text)
            .with_context(|| format!("writing {}", self.report.display()))?;
        let size = std::fs::metadata(&self.data).map(|m| m.len()).unwrap_or(0);
        let data = if size <= KEEP_DATA_UP_TO {
            Some(self.data)
        } else {
            let _ = std::fs::remove_file(&self.data);
            None
        };
        Ok(Profile {
            report: self.report,
            data,
        })
    }
}

/// `perf report --stdio --no-children` of `data` with `extra` arguments, each line's
/// trailing padding trimmed.
fn report(data: &Path, extra: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("perf")
        .arg("report")
        .arg("-i")
        .arg(data)
        .args(["--stdio", "--no-children", "--no-inline", "--percent-limit"])
        .arg(PERCENT_LIMIT)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .context("running perf report")?;
    if !out.status.success() {
        bail!(
            "perf report failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n"))
}
