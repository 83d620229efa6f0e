//! Section 1: one trivial route invocation in process (fresh `Store` from the
//! `InstancePre`, instantiate, call `hello`'s `GET /ping`, drop), beside a native Rust
//! function doing the same routing and answer, with the pooling and on-demand allocators,
//! and where a pooled invocation's time goes, phase by phase.

use crate::Plan;
use crate::report::{Section, Target};
use crate::stats::{Spread, ratio, us};
use keyway_host::context::ConnectionContext;
use keyway_host::runtime::{LoadedComponent, Phases, RouteRequest, Runtime, RuntimeConfig};
use keyway_host::types::Method;
use keyway_tests::components;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

/// The targets: the pooled median, and the p99 at most this many medians.
const TARGET: Duration = Duration::from_micros(5);
const TARGET_P99_RATIO: f64 = 2.0;

/// The phases of [`Phases`] in the order they happen: key in the JSON, name in the table.
type Phase = (&'static str, &'static str, fn(&Phases) -> Duration);
const PHASES: [Phase; 8] = [
    ("prepare", "route lookup, id, WIT request", |p| p.prepare),
    ("slot", "instance slot", |p| p.slot),
    ("state", "store data (WASI context, stdio, context)", |p| {
        p.state
    }),
    ("store", "`Store::new`, limiter, deadline", |p| p.store),
    ("instantiate", "instantiate", |p| p.instantiate),
    ("call", "guest handler, answer scrubbed", |p| p.call),
    ("finish", "output flushed, store dropped", |p| p.finish),
    ("check", "answer checked", |p| p.check),
];

/// What the `ping` route does, natively: match the route, build the answer.
#[inline(never)]
fn native_ping(req: &RouteRequest) -> (u16, Vec<u8>) {
    if req.method == Method::Get && req.path == "/ping" {
        (200, b"pong".to_vec())
    } else {
        (404, Vec::new())
    }
}

fn native(plan: &Plan) -> Spread {
    let (warmup, runs) = plan.invocations();
    let req = RouteRequest::new(Method::Get, "/ping");
    for _ in 0..warmup {
        black_box(native_ping(black_box(&req)));
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        black_box(native_ping(black_box(&req)));
        samples.push(start.elapsed());
    }
    Spread::of(samples)
}

async fn component(plan: &Plan, hello: &LoadedComponent) -> anyhow::Result<Spread> {
    let (warmup, runs) = plan.invocations();
    let ctx = ConnectionContext::empty("hello");
    for _ in 0..warmup {
        let res = hello
            .invoke(&ctx, RouteRequest::new(Method::Get, "/ping"))
            .await?;
        anyhow::ensure!(res.status == 200, "ping answered {}", res.status);
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let res = hello
            .invoke(&ctx, RouteRequest::new(Method::Get, "/ping"))
            .await?;
        samples.push(start.elapsed());
        black_box(res);
    }
    Ok(Spread::of(samples))
}

/// Each phase's median and p99 over pooled invocations, and the sum of the whole calls.
async fn phases(plan: &Plan, hello: &LoadedComponent) -> anyhow::Result<(Vec<Spread>, Spread)> {
    let (warmup, runs) = plan.invocations();
    let ctx = ConnectionContext::empty("hello");
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); PHASES.len()];
    let mut totals = Vec::with_capacity(runs);
    for i in 0..warmup + runs {
        let (res, phases) = hello
            .invoke_phased(&ctx, RouteRequest::new(Method::Get, "/ping"))
            .await?;
        anyhow::ensure!(res.status == 200, "ping answered {}", res.status);
        if i >= warmup {
            let mut total = Duration::ZERO;
            for (k, (_, _, get)) in PHASES.iter().enumerate() {
                samples[k].push(get(&phases));
                total += get(&phases);
            }
            totals.push(total);
        }
    }
    Ok((
        samples.into_iter().map(Spread::of).collect(),
        Spread::of(totals),
    ))
}

pub fn run(plan: &Plan) -> anyhow::Result<(Section, Vec<Target>)> {
    let (warmup, runs) = plan.invocations();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let base = native(plan);
    let mut section = Section::new(
        "1. One route invocation, in process",
        &format!(
            "Fresh `Store` from the `InstancePre`, instantiate, call `hello`'s `GET /ping`, \
             drop: {runs} runs after {warmup} warm-up, one thread. Baseline: a native Rust \
             function that matches the route and builds the same answer."
        ),
        &["what", "median (µs)", "p99 (µs)", "median vs native"],
    );
    section.row(vec![
        "native Rust function (baseline)".into(),
        format!("{:.2}", us(base.median)),
        format!("{:.2}", us(base.p99)),
        "1x".into(),
    ]);
    section.figure("native", base.json());
    let mut pooled = base;
    let mut breakdown = None;
    for pooling in [true, false] {
        let runtime = Runtime::new(RuntimeConfig {
            pooling,
            ..RuntimeConfig::default()
        })?;
        let spread = rt.block_on(async {
            let hello = runtime
                .load_component("hello", Path::new(components::HELLO))
                .await?;
            let spread = component(plan, &hello).await?;
            if pooling {
                breakdown = Some(phases(plan, &hello).await?);
            }
            anyhow::Ok(spread)
        })?;
        let label = if pooling {
            "keyway, pooling allocator"
        } else {
            "keyway, on-demand allocator"
        };
        section.row(vec![
            label.into(),
            format!("{:.2}", us(spread.median)),
            format!("{:.2}", us(spread.p99)),
            ratio(us(spread.median), us(base.median)),
        ]);
        section.figure(if pooling { "pooling" } else { "on_demand" }, spread.json());
        if pooling {
            pooled = spread;
        }
    }
    if let Some((phases, total)) = breakdown {
        for ((key, name, _), spread) in PHASES.iter().zip(&phases) {
            section.row(vec![
                format!("phase: {name}"),
                format!("{:.2}", us(spread.median)),
                format!("{:.2}", us(spread.p99)),
                format!(
                    "{:.0}% of the call",
                    100.0 * us(spread.median) / us(total.median).max(1e-9)
                ),
            ]);
            section.figure(&format!("phase_{key}"), spread.json());
        }
        section.note(format!(
            "The phase rows come from {runs} more pooled runs timed phase by phase (the whole \
             call {:.2} µs median, {:.2} µs p99 there); each row's median is its own, so the \
             shares need not add up to 100%.",
            us(total.median),
            us(total.p99)
        ));
    }
    let p99_ratio = us(pooled.p99) / us(pooled.median).max(1e-9);
    let targets = vec![
        Target {
            what: "in-process invocation, pooled median".into(),
            target: format!("<= {} µs", us(TARGET)),
            measured: format!("{:.2} µs", us(pooled.median)),
            met: pooled.median <= TARGET,
        },
        Target {
            what: "in-process invocation, pooled p99 / median".into(),
            target: format!("<= {TARGET_P99_RATIO}x"),
            measured: format!(
                "{p99_ratio:.2}x ({:.2} / {:.2} µs)",
                us(pooled.p99),
                us(pooled.median)
            ),
            met: p99_ratio <= TARGET_P99_RATIO,
        },
    ];
    Ok((section, targets))
}
