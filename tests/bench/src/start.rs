//! Section 6: start-up and memory. `keyway serve` with every example connector in
//! `connectors/` (built by `scripts/build-connectors`): time from spawn until it prints
//! its address, cold (empty data directory, so every component is compiled) and warm
//! (the component cache filled by an earlier start); then resident memory idle and its
//! peak under wrk at 64 connections on `hello`'s `GET /ping`. Baseline: the raw hyper
//! server's start and memory under the same load.

use crate::Plan;
use crate::keyway::Keyway;
use crate::local::spawn_hyper_hello;
use crate::procs::{Memory, ServerProc};
use crate::report::{Section, Target};
use crate::stats::{Spread, ms, ratio};
use crate::wrk::Wrk;
use anyhow::Context;
use serde_json::json;
use std::time::Duration;

const WARM_TARGET: Duration = Duration::from_millis(200);
const LOAD_CONNECTIONS: u32 = 64;

/// Lets a freshly started process settle before its resident memory is read.
fn settled_memory(proc: &ServerProc) -> Memory {
    std::thread::sleep(Duration::from_millis(500));
    proc.memory()
}

pub fn run(plan: &Plan) -> anyhow::Result<(Section, Vec<Target>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let connectors = keyway_tests::workspace_root().join("connectors");
    let count = std::fs::read_dir(&connectors)
        .with_context(|| format!("reading {}", connectors.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("connector.json").is_file())
        .count();
    let scratch = tempfile::tempdir()?;
    let wrk = Wrk::new(scratch.path())?;
    let repeats = plan.scale(5).max(2);

    let mut hyper_starts = Vec::new();
    for _ in 0..repeats {
        hyper_starts.push(spawn_hyper_hello()?.started_in);
    }
    let hyper = Spread::of(hyper_starts);

    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let data = scratch.path().join("data");
    for i in 0..repeats {
        let dir = scratch.path().join(format!("cold-{i}"));
        let k = Keyway::start(&dir, &connectors)?;
        let (loaded, skipped) = rt.block_on(k.connectors())?;
        anyhow::ensure!(
            loaded == count && skipped.is_empty(),
            "keyway loaded {loaded} of {count} connectors (build them with \
             scripts/build-connectors); skipped: {skipped:?}"
        );
        cold.push(k.proc.started_in);
    }
    // Fill the cache once, then time warm starts against it.
    drop(Keyway::start(&data, &connectors)?);
    for _ in 0..repeats {
        warm.push(Keyway::start(&data, &connectors)?.proc.started_in);
    }
    let (cold, warm) = (Spread::of(cold), Spread::of(warm));

    let keyway = Keyway::start(&data, &connectors)?;
    let keyway_idle = settled_memory(&keyway.proc);
    rt.block_on(keyway.create_connection("bench", "hello"))?;
    let key = keyway.create_api_key(&data)?;
    let url = keyway.proc.url("/v1/connections/bench/routes/ping");
    rt.block_on(crate::http::check_pong(&url, &key))?;
    let loaded = wrk.run(&url, LOAD_CONNECTIONS, plan.http_run(), &key)?;
    let keyway_peak = keyway.proc.memory();

    let hyper_proc = spawn_hyper_hello()?;
    let hyper_idle = settled_memory(&hyper_proc);
    wrk.run(
        &hyper_proc.url("/ping"),
        LOAD_CONNECTIONS,
        plan.http_run(),
        &key,
    )?;
    let hyper_peak = hyper_proc.memory();

    let mut section = Section::new(
        "6. Start-up and memory",
        &format!(
            "`keyway serve` with the {count} example connectors: time from spawn until it \
             prints its address, median of {repeats}; cold starts have an empty data \
             directory (every component compiled), warm starts reuse the component cache. \
             Memory: resident set idle, and its peak after wrk at {LOAD_CONNECTIONS} \
             connections for {} s ({:.0} requests/s). Baseline: the raw hyper server.",
            plan.http_run().as_secs(),
            loaded.requests_per_sec
        ),
        &["what", "raw hyper (baseline)", "keyway serve", "ratio"],
    );
    let row = |what: &str, base: f64, value: f64, unit: &str| {
        vec![
            what.to_string(),
            format!("{base:.1} {unit}"),
            format!("{value:.1} {unit}"),
            ratio(value, base),
        ]
    };
    section.row(row(
        "start, cold (compiling)",
        ms(hyper.median),
        ms(cold.median),
        "ms",
    ));
    section.row(row(
        "start, warm (component cache)",
        ms(hyper.median),
        ms(warm.median),
        "ms",
    ));
    section.row(row(
        "resident memory, idle",
        hyper_idle.rss_mib,
        keyway_idle.rss_mib,
        "MiB",
    ));
    section.row(row(
        &format!("resident memory, peak under {LOAD_CONNECTIONS} connections"),
        hyper_peak.peak_mib,
        keyway_peak.peak_mib,
        "MiB",
    ));
    if loaded.non_2xx + loaded.socket_errors > 0 {
        section.note(format!(
            "keyway answered {} requests of the load with a non-2xx status or a socket error.",
            loaded.non_2xx + loaded.socket_errors
        ));
    }
    section.figure(
        "start",
        json!({ "connectors": count, "hyper": hyper.json(), "cold": cold.json(), "warm": warm.json() }),
    );
    section.figure(
        "memory",
        json!({ "hyper_idle": hyper_idle, "hyper_peak": hyper_peak, "keyway_idle": keyway_idle, "keyway_peak": keyway_peak }),
    );
    let targets = vec![Target {
        what: format!("warm start with the {count} example connectors"),
        target: "< 200 ms".into(),
        measured: format!("{:.0} ms (cold {:.0} ms)", ms(warm.median), ms(cold.median)),
        met: warm.median < WARM_TARGET,
    }];
    Ok((section, targets))
}
