//! Section 9: a stream run. The `pager` component pages through a local API (100 pages of
//! 500 items) and ingests each page: once called directly, the guest-door ingest baseline
//! (each batch stored in its own transaction as it arrives), once run by the host as a
//! stream, where every page is held until the route's checkpoint and committed with the
//! cursor in one transaction. Each round uses fresh connections, so every record is new.

use crate::Plan;
use crate::report::{Section, Target};
use crate::stats::{ratio, thousands};
use anyhow::{Context, ensure};
use keyway_host::runtime::RouteRequest;
use keyway_host::services::Trigger;
use keyway_host::types::Method;
use keyway_tests::components;
use keyway_tests::pages::{PagesApi, create_pager_connection, pager_manifest, pager_services};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PAGES: u64 = 100;
const PER_PAGE: u64 = 500;
const RECORDS: u64 = PAGES * PER_PAGE;
/// A stream run keeps at least this share of the direct route's throughput.
const TARGET_RATIO: f64 = 0.8;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A connectors directory with the pager connector (one stream, `items`) of `api`.
pub fn pager_connectors(api: &PagesApi) -> anyhow::Result<tempfile::TempDir> {
    let connectors = tempfile::tempdir()?;
    let dir = connectors.path().join("pager");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("connector.json"),
        pager_manifest(
            &api.base(),
            r#"[{ "key": "items", "route": "/sync/items", "entity": "Item" }]"#,
        ),
    )?;
    std::fs::copy(components::PAGER, dir.join("connector.wasm"))?;
    Ok(connectors)
}

pub fn run(plan: &Plan) -> anyhow::Result<(Section, Vec<Target>)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let api = rt.block_on(PagesApi::start_with(PAGES, PER_PAGE));
    let connectors = pager_connectors(&api)?;
    let data = tempfile::tempdir()?;
    let services = pager_services(data.path(), connectors.path());
    let create = |name: &str| create_pager_connection(&services, name, &api, &[]);
    // Warm-up: compile and load the component, open the pool.
    create("warm")?;
    rt.block_on(services.run_stream("warm", "items", Trigger::Manual))?;

    let rounds = plan.scale(3).max(1);
    let (mut direct, mut stream) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let name = format!("direct-{round}");
        create(&name)?;
        let mut req = RouteRequest::new(Method::Post, "/sync/items");
        req.body = json!({ "maxPages": PAGES }).to_string().into_bytes();
        let start = Instant::now();
        let res = rt.block_on(services.invoke(&name, req))?;
        let took = start.elapsed();
        let body: Value = serde_json::from_slice(&res.body).context("the route's answer")?;
        ensure!(
            body["imported"] == RECORDS,
            "the direct route imported {}",
            body["imported"]
        );
        direct.push(took);

        let name = format!("stream-{round}");
        create(&name)?;
        let start = Instant::now();
        let run = rt.block_on(services.run_stream(&name, "items", Trigger::Manual))?;
        let took = start.elapsed();
        ensure!(
            run.status == "succeeded" && run.imported == RECORDS && run.pages == PAGES,
            "the stream run ended {} with {} records in {} pages",
            run.status,
            run.imported,
            run.pages
        );
        stream.push(took);
    }
    let rate = |d: &Duration| RECORDS as f64 / d.as_secs_f64().max(1e-9);
    let direct_rate = median(direct.iter().map(rate).collect());
    let stream_rate = median(stream.iter().map(rate).collect());
    let mut section = Section::new(
        "9. Stream run",
        &format!(
            "The pager component pages through a local API, {PAGES} pages of {PER_PAGE} items \
             ({} records), ingesting each page; median of {rounds} rounds, each on fresh \
             connections. Direct: the route called as any route (each batch committed as it \
             arrives). Stream: run by the host, every page held until the route checkpoints, \
             then committed with the cursor in one transaction.",
            thousands(RECORDS as f64)
        ),
        &["path", "records/s", "vs direct route"],
    );
    section.row(vec![
        "route called directly (guest-door ingest baseline)".into(),
        thousands(direct_rate),
        "1.00x".into(),
    ]);
    section.row(vec![
        "stream run (checkpoint per page)".into(),
        thousands(stream_rate),
        ratio(stream_rate, direct_rate),
    ]);
    section.figure(
        "records_per_sec",
        json!({ "direct": direct_rate, "stream": stream_rate }),
    );
    let measured = stream_rate / direct_rate.max(1e-9);
    let targets = vec![Target {
        what: "stream run vs the same route called directly".into(),
        target: format!(">= {TARGET_RATIO:.1}x"),
        measured: format!("{measured:.2}x"),
        met: measured >= TARGET_RATIO,
    }];
    Ok((section, targets))
}
