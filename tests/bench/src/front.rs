//! Section 8: the front stays responsive while guests are busy. `keyway serve` runs the
//! `misbehave` test connector; `/healthz` is timed one request at a time, first on an
//! idle server, then while callers keep busy routes (`POST /work`, a guest computing for
//! tens of milliseconds per call) running on every slot they can get. Guest code runs on
//! a runtime of its own so that the second figure stays near the first; this section is
//! what any other placement of guest code (on the request's task, say) is judged by.

use crate::Plan;
use crate::keyway::Keyway;
use crate::report::{Section, Target};
use crate::stats::{Spread, ms};
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Callers keeping busy guests running at once.
const BUSY_CALLERS: usize = 16;
/// The busy route's work per call (about 20-60 ms of one core in a release guest).
const ITERATIONS: u64 = 40_000_000;

fn misbehave_connectors(dir: &Path) -> anyhow::Result<()> {
    let m = dir.join("misbehave");
    std::fs::create_dir_all(&m)?;
    std::fs::write(
        m.join("connector.json"),
        r#"{ "key": "misbehave", "name": "Misbehave", "provider": "none", "kind": "source",
             "version": "0.1.0", "permissions": { "http": [] }, "connection": {} }"#,
    )?;
    std::fs::copy(
        keyway_tests::components::MISBEHAVE,
        m.join("connector.wasm"),
    )
    .context("copying misbehave's component")?;
    Ok(())
}

async fn health_spread(client: &reqwest::Client, url: &str, n: usize) -> anyhow::Result<Spread> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let res = client.get(url).send().await.context("GET /healthz")?;
        anyhow::ensure!(res.status() == 200, "/healthz answered {}", res.status());
        res.bytes().await?;
        samples.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(Spread::of(samples))
}

pub fn run(plan: &Plan) -> anyhow::Result<(Section, Vec<Target>)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let scratch = tempfile::tempdir()?;
    let connectors = scratch.path().join("connectors");
    misbehave_connectors(&connectors)?;
    let data = scratch.path().join("data");
    let keyway = Keyway::start(&data, &connectors)?;
    rt.block_on(keyway.create_connection("busy", "misbehave"))?;
    let key = keyway.create_api_key(&data)?;
    let health = keyway.proc.url("/healthz");
    let work = keyway.proc.url(&format!(
        "/v1/connections/busy/routes/work?iterations={ITERATIONS}"
    ));
    let samples = plan.scale(400);

    let (idle, busy, calls) = rt.block_on(async {
        let client = reqwest::Client::new();
        health_spread(&client, &health, samples / 4).await?; // warm-up
        let idle = health_spread(&client, &health, samples).await?;

        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let mut callers = Vec::new();
        for _ in 0..BUSY_CALLERS {
            let (client, url, key) = (client.clone(), work.clone(), key.clone());
            let (stop, done) = (stop.clone(), done.clone());
            callers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(res) = client.post(&url).bearer_auth(&key).send().await
                        && res.status() == 200
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        // Let the busy calls fill the slots first.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let busy = health_spread(&client, &health, samples).await;
        stop.store(true, Ordering::Relaxed);
        for c in callers {
            let _ = c.await;
        }
        anyhow::Ok((idle, busy?, done.load(Ordering::Relaxed)))
    })?;

    let mut section = Section::new(
        "8. Front responsiveness under busy guests",
        &format!(
            "`GET /healthz` timed one at a time ({samples} requests), on an idle server and \
             while {BUSY_CALLERS} callers keep `misbehave`'s `POST /work` \
             ({ITERATIONS} iterations per call) running."
        ),
        &[
            "server state",
            "median (ms)",
            "p99 (ms)",
            "busy calls answered",
        ],
    );
    section.row(vec![
        "idle".into(),
        format!("{:.2}", ms(idle.median)),
        format!("{:.2}", ms(idle.p99)),
        "-".into(),
    ]);
    section.row(vec![
        format!("{BUSY_CALLERS} busy callers"),
        format!("{:.2}", ms(busy.median)),
        format!("{:.2}", ms(busy.p99)),
        calls.to_string(),
    ]);
    section.figure("idle", idle.json());
    section.figure("busy", busy.json());
    section.figure("busy_calls", serde_json::json!(calls));
    Ok((section, Vec::new()))
}
