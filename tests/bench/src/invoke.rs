//! Section 1: one trivial route invocation in process (fresh `Store` from the
//! `InstancePre`, instantiate, call `hello`'s `GET /ping`, drop), beside a native Rust
//! function doing the same routing and answer, with the pooling and on-demand allocators.

use crate::Plan;
use crate::report::{Section, Target};
use crate::stats::{Spread, ratio, us};
use keyway_host::context::ConnectionContext;
use keyway_host::runtime::{LoadedComponent, RouteRequest, Runtime, RuntimeConfig};
use keyway_host::types::Method;
use keyway_tests::components;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const TARGET: Duration = Duration::from_micros(20);

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
    for pooling in [true, false] {
        let runtime = Runtime::new(RuntimeConfig {
            pooling,
            ..RuntimeConfig::default()
        })?;
        let spread = rt.block_on(async {
            let hello = runtime
                .load_component("hello", Path::new(components::HELLO))
                .await?;
            component(plan, &hello).await
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
    let target = Target {
        what: "in-process invocation, pooled median".into(),
        target: "< 20 µs".into(),
        measured: format!("{:.1} µs", us(pooled.median)),
        met: pooled.median < TARGET,
    };
    Ok((section, vec![target]))
}
