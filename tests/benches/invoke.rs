//! Benchmark: the cost of one trivial route invocation (fresh store from the
//! `InstancePre`, instantiate, call `GET /ping`, drop), median and p99, beside a native
//! Rust function doing the same routing and response building, measured in the same run.
//! Run with `cargo bench -p keyway-tests --bench invoke`. Prints a Markdown table.

use keyway_host::context::ConnectionContext;
use keyway_host::runtime::{LoadedComponent, Method, RouteRequest, Runtime, RuntimeConfig};
use keyway_tests::components;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const WARMUP: usize = 2_000;
const RUNS: usize = 20_000;

struct Figures {
    median: Duration,
    p99: Duration,
}

fn figures(mut samples: Vec<Duration>) -> Figures {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Figures {
        median: at(0.5),
        p99: at(0.99),
    }
}

/// What the `ping` route does, natively: match the route, build the response.
#[inline(never)]
fn native_ping(req: &RouteRequest) -> (u16, Vec<u8>) {
    if req.method == Method::Get && req.path == "/ping" {
        (200, b"pong".to_vec())
    } else {
        (404, Vec::new())
    }
}

fn bench_native() -> Figures {
    let req = RouteRequest::new(Method::Get, "/ping");
    for _ in 0..WARMUP {
        black_box(native_ping(black_box(&req)));
    }
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        black_box(native_ping(black_box(&req)));
        samples.push(start.elapsed());
    }
    figures(samples)
}

async fn bench_component(component: &LoadedComponent) -> Figures {
    let ctx = ConnectionContext::empty("hello");
    let call = || component.invoke(&ctx, RouteRequest::new(Method::Get, "/ping"));
    for _ in 0..WARMUP {
        let res = call().await.expect("ping");
        assert_eq!(res.status, 200);
    }
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let res = call().await.expect("ping");
        samples.push(start.elapsed());
        black_box(res);
    }
    figures(samples)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let native = bench_native();
    let mut rows = vec![(
        "native Rust function".to_string(),
        native.median,
        native.p99,
    )];
    for pooling in [true, false] {
        let runtime = Runtime::new(RuntimeConfig {
            pooling,
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        let figures = rt.block_on(async {
            let hello = runtime
                .load_component("hello", Path::new(components::HELLO))
                .await
                .expect("hello loads");
            bench_component(&hello).await
        });
        let label = if pooling {
            "keyway invoke, pooling allocator"
        } else {
            "keyway invoke, on-demand allocator"
        };
        rows.push((label.to_string(), figures.median, figures.p99));
    }
    println!("\n## One trivial route invocation ({RUNS} runs after {WARMUP} warm-up)\n");
    println!("| what | median (µs) | p99 (µs) | median vs native |");
    println!("|---|---:|---:|---:|");
    for (label, median, p99) in &rows {
        let ratio = median.as_secs_f64() / native.median.as_secs_f64().max(1e-12);
        println!(
            "| {label} | {:.2} | {:.2} | {ratio:.0}x |",
            us(*median),
            us(*p99)
        );
    }
    let pooled = rows[1].1;
    let target = Duration::from_micros(20);
    println!(
        "\ntarget: pooled median under 20 µs -> {:.2} µs: {}",
        us(pooled),
        if pooled < target { "met" } else { "NOT met" }
    );
}
