//! `keyway-bench`: Keyway's benchmark suite. Every figure is measured beside its
//! baseline in the same run (a native function, raw hyper, `wasmtime serve`, a direct
//! hyper call, one lone caller, the memory sink) and checked against the targets of the
//! performance issue. Prints each section as it finishes, then writes `results.md` and
//! `results.json` (with the machine's description) to `--out`.
//!
//! Run it with `scripts/bench`, which installs wrk and wasmtime-cli and builds what the
//! suite needs in release mode. It is not part of the test suite: figures from a shared
//! machine are for reading, not for passing or failing a build.

mod http;
mod ingest;
mod invoke;
mod keyway;
mod local;
mod procs;
mod report;
mod stampede;
mod start;
mod stats;
mod tokens;
mod wrk;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser)]
#[command(name = "keyway-bench", about = "Keyway's benchmark suite")]
struct Cli {
    /// Where results.md and results.json go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Shorter runs, for checking the suite itself works (figures are noisier).
    #[arg(long)]
    quick: bool,
    /// Run only these sections (repeatable); all of them by default.
    #[arg(long, value_enum)]
    only: Vec<SectionName>,
    /// The wasmtime CLI (48.0.x) for the `wasmtime serve` baseline.
    #[arg(
        long,
        env = "KEYWAY_BENCH_WASMTIME",
        default_value = "target/bench-tools/bin/wasmtime"
    )]
    wasmtime: PathBuf,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// The raw hyper hello-world server the HTTP figures are compared with.
    #[command(hide = true)]
    HyperHello {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SectionName {
    Invoke,
    Http,
    Tokens,
    Stampede,
    Ingest,
    Start,
}

/// How long and how often to measure.
pub struct Plan {
    quick: bool,
}

impl Plan {
    /// Warm-up and measured runs of an in-process invocation.
    pub fn invocations(&self) -> (usize, usize) {
        if self.quick {
            (200, 2_000)
        } else {
            (2_000, 20_000)
        }
    }

    /// Warm-up and measured runs of an outbound call.
    pub fn calls(&self) -> (usize, usize) {
        if self.quick {
            (100, 1_000)
        } else {
            (500, 5_000)
        }
    }

    /// `n` repetitions, or a tenth of them (at least one) when quick.
    pub fn scale(&self, n: usize) -> usize {
        if self.quick { (n / 10).max(1) } else { n }
    }

    /// One measured wrk run.
    pub fn http_run(&self) -> Duration {
        Duration::from_secs(if self.quick { 2 } else { 6 })
    }

    pub fn http_warmup(&self) -> Duration {
        Duration::from_secs(if self.quick { 1 } else { 2 })
    }
}

/// The wasmtime CLI, checked to be a 48.0.x release like the one Keyway embeds.
fn wasmtime_cli(path: &Path) -> anyhow::Result<PathBuf> {
    let version = report::command_line(&path.to_string_lossy(), &["--version"]);
    if !version.starts_with("wasmtime 48.0.") {
        bail!(
            "{} is not wasmtime-cli 48.0.x (it says {version:?}); scripts/bench installs it \
             with `cargo install wasmtime-cli`",
            path.display()
        );
    }
    Ok(path.to_path_buf())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Cmd::HyperHello { listen }) = cli.command {
        return local::hyper_hello(listen);
    }
    let plan = Plan { quick: cli.quick };
    let wanted = |s: SectionName| cli.only.is_empty() || cli.only.contains(&s);
    let mut report = report::Report::new();
    if wanted(SectionName::Invoke) {
        let (s, t) = invoke::run(&plan).context("section 1, invocation")?;
        report.add(s, t);
    }
    if wanted(SectionName::Http) {
        let wasmtime = wasmtime_cli(&cli.wasmtime)?;
        let (s, t) = http::run(&plan, &wasmtime).context("section 2, HTTP")?;
        report.add(s, t);
    }
    if wanted(SectionName::Tokens) {
        let (s, t) = tokens::run(&plan).context("section 3, token path")?;
        report.add(s, t);
    }
    if wanted(SectionName::Stampede) {
        let (s, t) = stampede::run(&plan).context("section 4, refresh stampede")?;
        report.add(s, t);
    }
    if wanted(SectionName::Ingest) {
        let (s, t) = ingest::run(&plan).context("section 5, ingest")?;
        report.add(s, t);
    }
    if wanted(SectionName::Start) {
        let (s, t) = start::run(&plan).context("section 6, start-up and memory")?;
        report.add(s, t);
    }
    report.write(&cli.out)
}
