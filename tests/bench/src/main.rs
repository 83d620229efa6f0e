//! `keyway-bench`: Keyway's benchmark suite. Every figure is measured beside its
//! baseline in the same run (a native function, raw hyper, `wasmtime serve`, a direct
//! hyper call, one lone caller, the memory sink) and checked against the targets of the
//! performance issue. Prints each section as it finishes, then writes `results.md` and
//! `results.json` (with the machine's description) to `--out`; with `--profile`, perf
//! profiles of `keyway serve` under each HTTP point's load go to `--out`/profiles.
//!
//! Run it with `scripts/bench`, which installs wrk and wasmtime-cli and builds what the
//! suite needs in release mode. It is not part of the test suite: figures from a shared
//! machine are for reading, not for passing or failing a build.

mod database;
mod front;
mod http;
mod http_figures;
mod ingest;
mod injection;
mod invoke;
mod keyway;
mod local;
mod outbound;
mod procs;
mod profile;
mod report;
mod stampede;
mod start;
mod stats;
mod streams;
mod tokens;
mod wrk;

use anyhow::bail;
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
    /// Record `perf record -g` of `keyway serve` under each HTTP point's load (an extra,
    /// unmeasured run) and write `perf report` text to `<out>/profiles/`.
    #[arg(long)]
    profile: bool,
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
    /// The `keyway` binary to measure; by default the one built beside this suite.
    #[arg(long, env = "KEYWAY_BENCH_KEYWAY")]
    keyway: Option<PathBuf>,
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
    Outbound,
    Front,
    Streams,
    Database,
}

/// How long and how often to measure.
pub struct Plan {
    quick: bool,
    /// Where profiles go, when asked for.
    profiles: Option<PathBuf>,
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
        Duration::from_secs(if self.quick { 2 } else { 3 })
    }

    /// Measured wrk runs per server and connection count.
    pub fn http_rounds(&self) -> usize {
        if self.quick { 1 } else { 3 }
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
    if let Some(bin) = cli.keyway {
        keyway::use_binary(bin);
    }
    let plan = Plan {
        quick: cli.quick,
        profiles: cli.profile.then(|| cli.out.join("profiles")),
    };
    let wanted = |s: SectionName| cli.only.is_empty() || cli.only.contains(&s);
    let mut report = report::Report::new();
    type Run = fn(&Plan, &Path) -> anyhow::Result<(report::Section, Vec<report::Target>)>;
    let sections: [(SectionName, &str, Run); 10] = [
        (SectionName::Invoke, "1, invocation", |p, _| invoke::run(p)),
        (SectionName::Http, "2, HTTP", |p, w| {
            http::run(p, &wasmtime_cli(w)?)
        }),
        (SectionName::Tokens, "3, token path", |p, _| tokens::run(p)),
        (SectionName::Stampede, "4, refresh stampede", |p, _| {
            stampede::run(p)
        }),
        (SectionName::Ingest, "5, ingest", |p, _| ingest::run(p)),
        (SectionName::Start, "6, start-up and memory", |p, _| {
            start::run(p)
        }),
        (
            SectionName::Outbound,
            "7, route with an outbound call",
            |p, _| outbound::run(p),
        ),
        (SectionName::Front, "8, front under busy guests", |p, _| {
            front::run(p)
        }),
        (SectionName::Streams, "9, stream run", |p, _| {
            streams::run(p)
        }),
        (
            SectionName::Database,
            "10, PostgreSQL beside SQLite",
            |p, _| database::run(p),
        ),
    ];
    let mut failed = Vec::new();
    for (name, label, run) in sections {
        if !wanted(name) {
            continue;
        }
        // A section that cannot run is reported; the others still run and are written.
        match run(&plan, &cli.wasmtime) {
            Ok((section, targets)) => report.add(section, targets),
            Err(e) => {
                eprintln!("section {label} failed: {e:#}");
                failed.push(format!("section {label}: {e:#}"));
            }
        }
    }
    report.failed = failed.clone();
    report.write(&cli.out)?;
    if !failed.is_empty() {
        bail!("{} section(s) failed:\n{}", failed.len(), failed.join("\n"));
    }
    Ok(())
}
