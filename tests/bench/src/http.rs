//! Section 2: HTTP route throughput and latency. Three servers answer the same trivial
//! request over loopback with keep-alive, loaded by wrk at 1, 8 and 64 connections in
//! the same run: a raw hyper hello world (the ceiling), `keyway serve` running `hello`'s
//! `GET /ping` behind an API key, and `wasmtime serve` running a `wasi:http` component
//! that answers the same `pong`. Each point is several rounds, alternating between the
//! servers; the table shows each server's median and its spread. Resident memory is read
//! idle and sampled while wrk runs at 64 connections; with `--profile`, an extra keyway
//! run per point is recorded with perf (see `profile.rs`). The arithmetic of the figures
//! and targets is `http_figures.rs`'s.

use crate::Plan;
use crate::http_figures::{self, Spread, WASMTIME_JUDGED_AT};
use crate::keyway::{Keyway, hello_connectors};
use crate::procs::{Memory, RssSampler, ServerProc, free_port};
use crate::profile::Profiler;
use crate::report::{Section, Target};
use crate::stats::{ratio, thousands};
use crate::wrk::{Wrk, WrkResult};
use anyhow::{Context, bail};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub const CONNECTIONS: [u32; 3] = [1, 8, 64];
/// The connection count resident memory is sampled at.
const RSS_CONNECTIONS: u32 = 64;
const RSS_EVERY: Duration = Duration::from_millis(100);

struct Contender {
    label: &'static str,
    proc: ServerProc,
    url: String,
    idle: Memory,
    /// The highest resident memory sampled under load, MiB.
    loaded_mib: f64,
}

pub async fn check_pong(url: &str, key: &str) -> anyhow::Result<()> {
    let res = reqwest::Client::new()
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    if status != 200 || body != "pong" {
        bail!("GET {url} answered {status} {body:?}, not 200 \"pong\"");
    }
    Ok(())
}

/// Starts the three servers (raw hyper, keyway, `wasmtime serve`, in that order) in
/// `scratch`, checks each answers `pong`, and warms each up; the API key keyway wants.
fn start_servers(
    rt: &tokio::runtime::Runtime,
    wrk: &Wrk,
    plan: &Plan,
    wasmtime: &Path,
    scratch: &Path,
) -> anyhow::Result<(Vec<Contender>, String)> {
    let hyper = crate::local::spawn_hyper_hello()?;

    let connectors = scratch.join("connectors");
    hello_connectors(&connectors)?;
    let data = scratch.join("data");
    let keyway = Keyway::start(&data, &connectors)?;
    rt.block_on(keyway.create_connection("bench", "hello"))?;
    let key = keyway.create_api_key(&data)?;

    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let mut wt_cmd = Command::new(wasmtime);
    wt_cmd
        .args(["serve", "-Scli", "--addr", &addr])
        .arg(keyway_tests::components::HTTP_HELLO);
    let wasmtime_serve = ServerProc::spawn_listening("wasmtime serve", wt_cmd, addr.parse()?)?;

    let contender = |label, url: String, proc: ServerProc| Contender {
        label,
        idle: proc.memory(),
        url,
        proc,
        loaded_mib: 0.0,
    };
    let (hyper_url, wt_url) = (hyper.url("/ping"), wasmtime_serve.url("/ping"));
    let keyway_url = keyway.proc.url("/v1/connections/bench/routes/ping");
    let contenders = vec![
        contender("raw hyper (ceiling)", hyper_url, hyper),
        contender("keyway serve", keyway_url, keyway.proc),
        contender("wasmtime serve", wt_url, wasmtime_serve),
    ];
    for c in &contenders {
        rt.block_on(check_pong(&c.url, &key))
            .with_context(|| format!("{} is not answering pong", c.label))?;
        // Warm-up: connection set-up, caches, the pool's first slots.
        wrk.run(&c.url, 8, plan.http_warmup(), &key)?;
    }
    Ok((contenders, key))
}

/// One more keyway run at `n` connections with perf attached (not in the figures); a
/// note saying where its profile went, or why there is none.
fn profile_point(
    profiler: &Profiler,
    wrk: &Wrk,
    keyway: &Contender,
    n: u32,
    plan: &Plan,
    key: &str,
) -> String {
    let name = format!("http-{n}conn");
    let title = format!(
        "keyway serve (pid {}) under wrk at {n} connections on hello's GET /ping, {} s",
        keyway.proc.pid(),
        plan.http_run().as_secs()
    );
    let recorded = profiler
        .attach(keyway.proc.pid(), plan.http_run(), &name, title)
        .and_then(|rec| {
            let run = wrk.run(&keyway.url, n, plan.http_run(), key);
            let profile = rec.finish()?;
            Ok((run?, profile))
        });
    match recorded {
        Ok((run, profile)) => format!(
            "Profile at {n} connections: {} ({}), from an extra keyway run at {} req/s \
             with perf attached, not in the figures.",
            profile.report.display(),
            match &profile.data {
                Some(d) => format!("raw data {}", d.display()),
                None => "raw data too large, dropped".into(),
            },
            thousands(run.requests_per_sec)
        ),
        Err(e) => {
            eprintln!("profile at {n} connections: {e:#}");
            format!("No profile at {n} connections: {e:#}.")
        }
    }
}

/// Every server's rounds at `n` connections, alternating; at [`RSS_CONNECTIONS`] each
/// run's resident memory is sampled.
fn rounds_at(
    wrk: &Wrk,
    contenders: &mut [Contender],
    n: u32,
    plan: &Plan,
    key: &str,
) -> anyhow::Result<Vec<Vec<WrkResult>>> {
    let mut rounds: Vec<Vec<WrkResult>> = vec![Vec::new(); contenders.len()];
    for _ in 0..plan.http_rounds() {
        for (c, mine) in contenders.iter_mut().zip(rounds.iter_mut()) {
            let sampler =
                (n == RSS_CONNECTIONS).then(|| RssSampler::start(c.proc.pid(), RSS_EVERY));
            let run = wrk.run(&c.url, n, plan.http_run(), key);
            if let Some(s) = sampler {
                c.loaded_mib = c.loaded_mib.max(s.stop());
            }
            mine.push(run?);
        }
    }
    Ok(rounds)
}

pub fn run(plan: &Plan, wasmtime: &Path) -> anyhow::Result<(Section, Vec<Target>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let scratch = tempfile::tempdir()?;
    let wrk = Wrk::new(scratch.path())?;
    let (mut contenders, key) = start_servers(&rt, &wrk, plan, wasmtime, scratch.path())?;

    let mut section = Section::new(
        "2. HTTP route throughput and latency",
        &format!(
            "wrk, one thread, keep-alive, over loopback, after a warm-up run; {} round(s) \
             of {} s per server and connection count, alternating between servers, so a \
             noisy moment hits all of them. Requests/s is the median round, with the lowest \
             and highest round beside it; p50 and p99 are the medians of the rounds'. \
             Every server answers `pong`; keyway's request carries an API key and runs \
             `hello`'s `GET /ping` in a fresh instance; `wasmtime serve -Scli` runs a \
             `wasi:http` component doing the same. keyway / `wasmtime serve` is judged at \
             {WASMTIME_JUDGED_AT} connections only; the other counts are for reading.",
            plan.http_rounds(),
            plan.http_run().as_secs()
        ),
        &[
            "server",
            "connections",
            "requests/s (median)",
            "lowest–highest round",
            "p50 (µs)",
            "p99 (µs)",
            "vs raw hyper",
            "vs wasmtime serve",
            "failed",
        ],
    );
    let profiler = match &plan.profiles {
        None => None,
        Some(dir) => match Profiler::new(dir) {
            Ok(p) => Some(p),
            Err(why) => {
                eprintln!("profiles: {why}; going on without them");
                section.note(format!("No profiles: {why}."));
                None
            }
        },
    };
    let mut targets = Vec::new();
    let mut figures = Vec::new();
    for &n in &CONNECTIONS {
        let rounds = rounds_at(&wrk, &mut contenders, n, plan, &key)?;
        let spreads: Vec<Spread> = rounds.iter().map(|r| Spread::of(r)).collect();
        let (hyper, keyway, wt) = (&spreads[0], &spreads[1], &spreads[2]);
        for ((c, s), runs) in contenders.iter().zip(&spreads).zip(&rounds) {
            section.row(vec![
                c.label.into(),
                n.to_string(),
                thousands(s.median_rps),
                s.range(),
                format!("{:.0}", s.p50_us),
                format!("{:.0}", s.p99_us),
                ratio(s.median_rps, hyper.median_rps),
                ratio(s.median_rps, wt.median_rps),
                s.failed.to_string(),
            ]);
            figures
                .push(json!({ "server": c.label, "connections": n, "spread": s, "rounds": runs }));
        }
        targets.extend(http_figures::targets(n, keyway, hyper, wt));
        if keyway.failed > 0 {
            section.note(format!(
                "keyway answered {} requests with a non-2xx status or a socket error at {n} connections.",
                keyway.failed
            ));
        }
        if let Some(p) = &profiler {
            section.note(profile_point(p, &wrk, &contenders[1], n, plan, &key));
        }
    }
    for c in &mut contenders {
        let after = c.proc.memory();
        section.note(format!(
            "{}: resident {:.1} MiB idle (before any request), at most {:.1} MiB sampled \
             every {} ms under {RSS_CONNECTIONS} connections ({}), peak {:.1} MiB after the runs.",
            c.label,
            c.idle.rss_mib,
            c.loaded_mib,
            RSS_EVERY.as_millis(),
            ratio(c.loaded_mib, c.idle.rss_mib),
            after.peak_mib
        ));
        figures.push(json!({
            "server": c.label,
            "idle": c.idle,
            "loaded_max_rss_mib": c.loaded_mib,
            "after": after,
        }));
    }
    targets.push(http_figures::rss_target(
        RSS_CONNECTIONS,
        contenders[1].idle.rss_mib,
        contenders[1].loaded_mib,
    ));
    if let Some(p) = &profiler {
        section.figure("profiles", p.dir().display().to_string().into());
    }
    section.figure("runs", serde_json::Value::Array(figures));
    Ok((section, targets))
}
