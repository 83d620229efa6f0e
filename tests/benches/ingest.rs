//! Benchmark: ingest throughput, 100,000 records with idempotency keys in batches of 500,
//! into the SQLite store of a fresh data directory; then the same records again, which
//! must all be duplicates. Measured through the SQLite sink directly (validation, content
//! canonicalization, one transaction per batch) and through the guest door (the `ingester`
//! component builds each batch in the sandbox, one route invocation per batch).
//! Run with `cargo bench -p keyway-tests --bench ingest`. Prints a Markdown table.

use keyway_host::context::{ConnectionContext, Grants};
use keyway_host::ingest::{self, IngestSink, RawBatch, SqliteSink};
use keyway_host::runtime::{LoadedComponent, Method, RouteRequest, Runtime};
use keyway_host::store::{MasterKey, Store};
use keyway_tests::{components, test_runtime_config};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORDS: usize = 100_000;
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
        RECORDS as f64 / self.elapsed.as_secs_f64()
    }
}

fn batches() -> Vec<RawBatch> {
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

async fn sink_run(sink: &dyn IngestSink, batches: &[RawBatch], run: &'static str) -> Row {
    let connection: Arc<str> = Arc::from("bench-sink");
    let (mut imported, mut duplicates) = (0u64, 0u64);
    let start = Instant::now();
    for batch in batches {
        let res = ingest::run(sink, connection.clone(), batch.clone())
            .await
            .expect("batch stored");
        imported += u64::from(res.imported);
        duplicates += u64::from(res.duplicates);
    }
    Row {
        path: "SQLite sink",
        run,
        elapsed: start.elapsed(),
        imported,
        duplicates,
    }
}

async fn guest_run(component: &LoadedComponent, ctx: &ConnectionContext, run: &'static str) -> Row {
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
        let res = component.invoke(ctx, req).await.expect("route answers");
        let v: Value = serde_json::from_slice(&res.body).expect("JSON answer");
        assert_eq!(v["ok"], true, "{v}");
        imported += v["value"]["imported"].as_u64().unwrap_or(0);
        duplicates += v["value"]["duplicates"].as_u64().unwrap_or(0);
    }
    Row {
        path: "guest door (ingester component)",
        run,
        elapsed: start.elapsed(),
        imported,
        duplicates,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let data = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open_with_key(data.path(), &MasterKey::generate()).expect("store"));
    let sink = Arc::new(SqliteSink::new(store.clone()));
    let batches = batches();

    let runtime = Runtime::new(test_runtime_config()).expect("runtime");
    let component = rt
        .block_on(runtime.load_component("ingester", Path::new(components::INGESTER)))
        .expect("ingester loads");
    let ctx = ConnectionContext::builder("ingester")
        .connection("bench-guest")
        .grants(Grants {
            writable_entities: ["Order".to_string()].into(),
            ..Grants::default()
        })
        .ingest(sink.clone())
        .build();

    let rows = rt.block_on(async {
        vec![
            sink_run(&*sink, &batches, "first (all new)").await,
            sink_run(&*sink, &batches, "second (all duplicates)").await,
            guest_run(&component, &ctx, "first (all new)").await,
            guest_run(&component, &ctx, "second (all duplicates)").await,
        ]
    });
    for (i, row) in rows.iter().enumerate() {
        let expect_new = i % 2 == 0;
        assert_eq!(
            (row.imported, row.duplicates),
            if expect_new {
                (RECORDS as u64, 0)
            } else {
                (0, RECORDS as u64)
            },
            "{} {}",
            row.path,
            row.run
        );
    }
    assert_eq!(
        store.count_records("bench-sink").expect("count"),
        RECORDS as u64
    );

    println!(
        "\n### Ingest throughput: {RECORDS} records with idempotency keys, batches of {BATCH}\n"
    );
    println!("| path | run | seconds | records/s | target {TARGET_PER_SEC:.0}/s |");
    println!("|---|---|---:|---:|---|");
    for row in &rows {
        println!(
            "| {} | {} | {:.3} | {:.0} | {} |",
            row.path,
            row.run,
            row.elapsed.as_secs_f64(),
            row.rate(),
            if row.rate() >= TARGET_PER_SEC {
                "met"
            } else {
                "not met"
            }
        );
    }
}
