//! Section 2: HTTP route throughput and latency. Three servers answer the same trivial
//! request over loopback with keep-alive, loaded by wrk at 1, 8 and 64 connections in
//! the same run: a raw hyper hello world (the ceiling), `keyway serve` running `hello`'s
//! `GET /ping` behind an API key, and `wasmtime serve` running a `wasi:http` component
//! that answers the same `pong`. Memory of each server is read before and after the load.

use crate::Plan;
use crate::keyway::{Keyway, hello_connectors};
use crate::procs::{Memory, ServerProc, free_port};
use crate::report::{Section, Target};
use crate::stats::{ratio, thousands};
use crate::wrk::{Wrk, WrkResult};
use anyhow::{Context, bail};
use serde_json::json;
use std::path::Path;
use std::process::Command;

pub const CONNECTIONS: [u32; 3] = [1, 8, 64];

struct Contender {
    label: &'static str,
    proc: ServerProc,
    url: String,
    idle: Memory,
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

/// The round with the median requests/s.
fn median_round(mut rounds: Vec<WrkResult>) -> WrkResult {
    rounds.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
    rounds.get(rounds.len() / 2).copied().unwrap_or_default()
}

pub fn run(plan: &Plan, wasmtime: &Path) -> anyhow::Result<(Section, Vec<Target>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let scratch = tempfile::tempdir()?;
    let wrk = Wrk::new(scratch.path())?;

    let hyper = crate::local::spawn_hyper_hello()?;

    let connectors = scratch.path().join("connectors");
    hello_connectors(&connectors)?;
    let data = scratch.path().join("data");
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

    let hyper_url = hyper.url("/ping");
    let keyway_url = keyway.proc.url("/v1/connections/bench/routes/ping");
    let wt_url = wasmtime_serve.url("/ping");
    let mut contenders = vec![
        Contender {
            label: "raw hyper (ceiling)",
            idle: hyper.memory(),
            url: hyper_url,
            proc: hyper,
        },
        Contender {
            label: "keyway serve",
            idle: keyway.proc.memory(),
            url: keyway_url,
            proc: keyway.proc,
        },
        Contender {
            label: "wasmtime serve",
            idle: wasmtime_serve.memory(),
            url: wt_url,
            proc: wasmtime_serve,
        },
    ];
    for c in &contenders {
        rt.block_on(check_pong(&c.url, &key))
            .with_context(|| format!("{} is not answering pong", c.label))?;
        // Warm-up: connection set-up, caches, the pool's first slots.
        wrk.run(&c.url, 8, plan.http_warmup(), &key)?;
    }

    let mut section = Section::new(
        "2. HTTP route throughput and latency",
        &format!(
            "wrk, one thread, keep-alive, over loopback, after a warm-up run; each figure is \
             the median of {} rounds of {} s. \
             Every server answers `pong`; keyway's request carries an API key and runs \
             `hello`'s `GET /ping` in a fresh instance; `wasmtime serve -Scli` runs a \
             `wasi:http` component doing the same. Runs alternate between servers at each \
             connection count.",
            plan.http_rounds(),
            plan.http_run().as_secs()
        ),
        &[
            "server",
            "connections",
            "requests/s",
            "p50 (µs)",
            "p99 (µs)",
            "vs raw hyper",
            "failed",
        ],
    );
    let mut targets = Vec::new();
    let mut figures = Vec::new();
    for &n in &CONNECTIONS {
        // Rounds alternate between the servers, so a noisy moment hits all of them; each
        // server's figure is its median round.
        let mut rounds: Vec<Vec<WrkResult>> = vec![Vec::new(); contenders.len()];
        for _ in 0..plan.http_rounds() {
            for (c, mine) in contenders.iter().zip(rounds.iter_mut()) {
                mine.push(wrk.run(&c.url, n, plan.http_run(), &key)?);
            }
        }
        let results: Vec<WrkResult> = rounds.into_iter().map(median_round).collect();
        let hyper_rps = results[0].requests_per_sec;
        for (c, r) in contenders.iter().zip(&results) {
            section.row(vec![
                c.label.into(),
                n.to_string(),
                thousands(r.requests_per_sec),
                format!("{:.0}", r.p50_us),
                format!("{:.0}", r.p99_us),
                ratio(r.requests_per_sec, hyper_rps),
                (r.non_2xx + r.socket_errors).to_string(),
            ]);
            figures.push(json!({ "server": c.label, "connections": n, "wrk": r }));
        }
        let (k, w) = (results[1].requests_per_sec, results[2].requests_per_sec);
        targets.push(Target {
            what: format!("HTTP keyway / raw hyper at {n} connections"),
            target: ">= 0.50".into(),
            measured: format!(
                "{:.2} ({} vs {} req/s)",
                k / hyper_rps,
                thousands(k),
                thousands(hyper_rps)
            ),
            met: k >= 0.5 * hyper_rps,
        });
        targets.push(Target {
            what: format!("HTTP keyway / wasmtime serve at {n} connections"),
            target: ">= 4x".into(),
            measured: format!(
                "{:.2}x ({} vs {} req/s)",
                k / w.max(1e-9),
                thousands(k),
                thousands(w)
            ),
            met: k >= 4.0 * w,
        });
        let failed: u64 = results[1].non_2xx + results[1].socket_errors;
        if failed > 0 {
            section.note(format!(
                "keyway answered {failed} requests with a non-2xx status or a socket error at {n} connections."
            ));
        }
    }
    for c in &mut contenders {
        let after = c.proc.memory();
        section.note(format!(
            "{}: resident {:.1} MiB idle, peak {:.1} MiB after the runs.",
            c.label, c.idle.rss_mib, after.peak_mib
        ));
        figures.push(json!({ "server": c.label, "idle": c.idle, "after": after }));
    }
    section.figure("runs", serde_json::Value::Array(figures));
    Ok((section, targets))
}
