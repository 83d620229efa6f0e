//! Section 5: ingest throughput. 100,000 records with idempotency keys in batches of 500,
//! then the same records again, which must all be duplicates: through the memory sink
//! (validation and deduplication only: the baseline), the SQLite sink of a fresh data
//! directory (one durable transaction per batch), and the guest door (the `ingester`
//! component builds each batch in the sandbox, one route invocation per batch).

use crate::Plan;
use crate::report::{Section, Target};
use crate::stats::{ratio, thousands};
use anyhow::{Context, bail, ensure};
use keyway_host::context::{ConnectionContext, Grants};
use keyway_host::ingest::{self, IngestSink, MemorySink, RawBatch, SqliteSink};
use keyway_host::runtime::{LoadedComponent, RouteRequest, Runtime};
use keyway_host::store::{MasterKey, Store};
use keyway_host::types::Method;
use keyway_tests::{components, test_runtime_config};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const RECORDS: usize = 100_000;
const BATCH: usize = 500;
const TARGET_PER_SEC: f64 = 50_000.0;

struct Row {
    path: &'static str,
    run: &'static str,
    elapsed: Duration,
    imported: u64,
    duplicates: u64,
}

impl Row {
    fn rate(&self) -> f64 {
        RECORDS as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn first(&self) -> bool {
        self.run.starts_with("first")
    }
}

pub fn batches() -> Vec<RawBatch> {
    (0..RECORDS / BATCH)
        .map(|b| {
            let ids = b * BATCH..(b + 1) * BATCH;
            RawBatch {
                entity: "Order".into(),
                stream: Some("orders".into()),
                payloads: ids
                    .clone()
                    .map(|i| {
                        format!(
                            r#"{{"id":{i},"name":"record {i}","total":12.5,"tags":["a","b"],"customer":{{"id":{},"email":"c{i}@example.test"}}}}"#,
                            i % 977
                        )
                    })
                    .collect(),
                keys: Some(ids.map(|i| format!("order-{i}")).collect()),
                continue_on_error: false,
            }
        })
        .collect()
}

async fn sink_run(
    path: &'static str,
    sink: &dyn IngestSink,
    batches: &[RawBatch],
    run: &'static str,
) -> anyhow::Result<Row> {
    let connection: Arc<str> = Arc::from("bench-sink");
    let (mut imported, mut duplicates) = (0u64, 0u64);
    let start = Instant::now();
    for batch in batches {
        let res = ingest::run(sink, connection.clone(), batch.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{path}: a batch was refused: {e}"))?;
        imported += u64::from(res.imported);
        duplicates += u64::from(res.duplicates);
    }
    Ok(Row {
        path,
        run,
        elapsed: start.elapsed(),
        imported,
        duplicates,
    })
}

async fn guest_run(
    component: &LoadedComponent,
    ctx: &ConnectionContext,
    run: &'static str,
) -> anyhow::Result<Row> {
    let (mut imported, mut duplicates) = (0u64, 0u64);
    let n = BATCH.to_string();
    let start = Instant::now();
    for b in 0..RECORDS / BATCH {
        let mut req = RouteRequest::new(Method::Post, "/batch");
        req.query = vec![
            ("entity".into(), "Order".into()),
            ("n".into(), n.clone()),
            ("offset".into(), (b * BATCH).to_string()),
            ("keys".into(), "yes".into()),
            ("stream".into(), "orders".into()),
        ];
        let res = component.invoke(ctx, req).await?;
        let v: Value = serde_json::from_slice(&res.body).context("the route's JSON answer")?;
        ensure!(v["ok"] == true, "the ingester refused a batch: {v}");
        imported += v["value"]["imported"].as_u64().unwrap_or(0);
        duplicates += v["value"]["duplicates"].as_u64().unwrap_or(0);
    }
    Ok(Row {
        path: "guest door (ingester component, SQLite)",
        run,
        elapsed: start.elapsed(),
        imported,
        duplicates,
    })
}

pub fn run(_plan: &Plan) -> anyhow::Result<(Section, Vec<Target>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let data = tempfile::tempdir()?;
    let store = Arc::new(Store::open_with_key(data.path(), &MasterKey::generate())?);
    let sqlite = Arc::new(SqliteSink::new(store.clone()));
    let memory = MemorySink::default();
    let batches = batches();
    let runtime = Runtime::new(test_runtime_config())?;
    let component =
        rt.block_on(runtime.load_component("ingester", Path::new(components::INGESTER)))?;
    let ctx = ConnectionContext::builder("ingester")
        .connection("bench-guest")
        .grants(Grants {
            writable_entities: ["Order".to_string()].into(),
            ..Grants::default()
        })
        .ingest(sqlite.clone())
        .build();

    let (first, again) = ("first (all new)", "second (all duplicates)");
    let rows = rt.block_on(async {
        anyhow::Ok(vec![
            sink_run("memory sink (baseline)", &memory, &batches, first).await?,
            sink_run("memory sink (baseline)", &memory, &batches, again).await?,
            sink_run("SQLite sink", &*sqlite, &batches, first).await?,
            sink_run("SQLite sink", &*sqlite, &batches, again).await?,
            guest_run(&component, &ctx, first).await?,
            guest_run(&component, &ctx, again).await?,
        ])
    })?;
    for row in &rows {
        let expected = if row.first() {
            (RECORDS as u64, 0)
        } else {
            (0, RECORDS as u64)
        };
        if (row.imported, row.duplicates) != expected {
            bail!(
                "{} {}: {} imported and {} duplicates, expected {expected:?}",
                row.path,
                row.run,
                row.imported,
                row.duplicates
            );
        }
    }
    let stored = store.count_records("bench-sink")?;
    ensure!(
        stored == RECORDS as u64,
        "the SQLite sink holds {stored} records"
    );

    let mut section = Section::new(
        "5. Ingest",
        &format!(
            "{} records with idempotency keys in batches of {BATCH}; the second run finds \
             every record a duplicate. SQLite: WAL, `synchronous=FULL`, one transaction per \
             batch, in a fresh data directory.",
            thousands(RECORDS as f64)
        ),
        &["path", "run", "seconds", "records/s", "vs memory sink"],
    );
    let mut targets = Vec::new();
    let mut figures = Vec::new();
    for row in &rows {
        let base = rows
            .iter()
            .find(|r| r.path.starts_with("memory") && r.run == row.run)
            .map(Row::rate)
            .unwrap_or(0.0);
        section.row(vec![
            row.path.into(),
            row.run.into(),
            format!("{:.3}", row.elapsed.as_secs_f64()),
            thousands(row.rate()),
            ratio(row.rate(), base),
        ]);
        figures.push(json!({
            "path": row.path, "run": row.run,
            "seconds": row.elapsed.as_secs_f64(), "records_per_sec": row.rate(),
        }));
        if !row.path.starts_with("memory") {
            targets.push(Target {
                what: format!("ingest, {}, {}", row.path, row.run),
                target: "> 50,000 records/s".into(),
                measured: format!("{} records/s", thousands(row.rate())),
                met: row.rate() > TARGET_PER_SEC,
            });
        }
    }
    section.figure("runs", Value::Array(figures));
    Ok((section, targets))
}
