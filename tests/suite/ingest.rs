//! Ingest end to end: the `ingester` component hands batches to the real door, which
//! stores them in the store of a data directory; duplicates, grants, bad payloads and
//! `keyway records` are checked against the store's database and the binary.

use keyway_host::context::{ConnectionContext, Grants};
use keyway_host::ingest::{IngestSink, SqliteSink};
use keyway_host::runtime::{LoadedComponent, RouteRequest, Runtime};
use keyway_host::store::{MasterKey, NewConnection, Store};
use keyway_host::types::Method;
use keyway_tests::{backend, components, keyway_command, test_runtime_config};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

const CONNECTION: &str = "shop-1";
const CANARY: &str = "canary-ingest-secret-81f2";

struct Fixture {
    component: LoadedComponent,
    store: Arc<Store>,
    key: MasterKey,
    data: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let runtime = Runtime::new(test_runtime_config()).expect("runtime");
    let component = runtime
        .load_component("ingester", Path::new(components::INGESTER))
        .await
        .expect("ingester loads");
    let data = tempfile::tempdir().expect("tempdir");
    let key = MasterKey::generate();
    let store = Arc::new(backend::open_store(data.path(), &key));
    store
        .create_connection(&NewConnection {
            auth_option: None,
            name: CONNECTION.to_string(),
            connector: "ingester".to_string(),
            credential_key: None,
            settings: Default::default(),
            secret_settings: Default::default(),
        })
        .expect("connection");
    Fixture {
        component,
        store,
        key,
        data,
    }
}

fn builder() -> keyway_host::context::ContextBuilder {
    ConnectionContext::builder("ingester")
        .secret("api_token", SecretString::from(CANARY))
        .grants(Grants {
            writable_entities: ["Order".to_string(), "Customer".to_string()].into(),
            secret_settings: ["api_token".to_string()].into(),
            ..Grants::default()
        })
}

fn context(f: &Fixture) -> ConnectionContext {
    let sink: Arc<dyn IngestSink> = Arc::new(SqliteSink::new(f.store.clone()));
    builder().connection(CONNECTION).ingest(sink).build()
}

async fn call(f: &Fixture, ctx: &ConnectionContext, path: &str, query: &[(&str, &str)]) -> Value {
    call_with_body(f, ctx, path, query, Vec::new()).await
}

async fn call_with_body(
    f: &Fixture,
    ctx: &ConnectionContext,
    path: &str,
    query: &[(&str, &str)],
    body: Vec<u8>,
) -> Value {
    let mut req = RouteRequest::new(Method::Post, path);
    req.query = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    req.body = body;
    let res = f
        .component
        .invoke(ctx, req)
        .await
        .expect("the route answers");
    assert_eq!(res.status, 200);
    serde_json::from_slice(&res.body).expect("JSON answer")
}

async fn raw(f: &Fixture, ctx: &ConnectionContext, batch: Value) -> Value {
    call_with_body(f, ctx, "/raw", &[], batch.to_string().into_bytes()).await
}

fn counts(v: &Value) -> (u64, u64, u64) {
    assert_eq!(v["ok"], true, "{v}");
    let r = &v["value"];
    (
        r["imported"].as_u64().unwrap_or(u64::MAX),
        r["duplicates"].as_u64().unwrap_or(u64::MAX),
        r["failed"].as_u64().unwrap_or(u64::MAX),
    )
}

fn refused(v: &Value, code: &str) -> String {
    assert_eq!(v["ok"], false, "expected a refusal: {v}");
    assert_eq!(v["code"], code, "{v}");
    v["message"].as_str().unwrap_or_default().to_string()
}

/// Rows of the records table, read straight from the store's database.
fn rows(data_dir: &Path) -> Vec<(String, String, Option<String>, String, String, i64)> {
    backend::query(
        data_dir,
        "SELECT connection, entity, stream, idempotency_key, payload, received_at_ms
         FROM records ORDER BY id",
    )
    .into_iter()
    .map(|r| {
        (
            r[0].clone(),
            r[1].clone(),
            backend::nullable(&r[2]).map(str::to_string),
            r[3].clone(),
            r[4].clone(),
            r[5].parse().expect("a number"),
        )
    })
    .collect()
}

#[tokio::test]
async fn a_second_run_finds_every_record_a_duplicate() {
    let f = fixture().await;
    let ctx = context(&f);
    let q = [
        ("entity", "Order"),
        ("n", "50"),
        ("keys", "yes"),
        ("stream", "orders"),
    ];
    let first = call(&f, &ctx, "/batch", &q).await;
    assert_eq!(counts(&first), (50, 0, 0));
    let items = first["value"]["items"].as_array().expect("items");
    assert_eq!(items.len(), 50);
    assert_eq!(items[7]["index"], 7);
    assert_eq!(items[7]["status"], "imported");
    assert_eq!(items[7]["idempotencyKey"], "rec-7");

    let second = call(&f, &ctx, "/batch", &q).await;
    assert_eq!(counts(&second), (0, 50, 0));
    assert!(
        second["value"]["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["status"] == "duplicate")
    );

    let rows = rows(f.data.path());
    assert_eq!(rows.len(), 50);
    let (connection, entity, stream, key, payload, received) = &rows[7];
    assert_eq!(connection, CONNECTION);
    assert_eq!(entity, "Order");
    assert_eq!(stream.as_deref(), Some("orders"));
    assert_eq!(key, "rec-7");
    let payload: Value = serde_json::from_str(payload).expect("payload is JSON");
    assert_eq!(
        payload,
        json!({ "id": 7, "name": "record 7", "total": 12.5 })
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    assert!(*received > 0 && *received <= now_ms, "{received}");

    // The same keys for another entity are new records.
    let other = call(
        &f,
        &ctx,
        "/batch",
        &[("entity", "Customer"), ("n", "3"), ("keys", "yes")],
    )
    .await;
    assert_eq!(counts(&other), (3, 0, 0));
}

#[tokio::test]
async fn keyless_records_dedup_by_content_hash() {
    let f = fixture().await;
    let ctx = context(&f);
    let q = [("entity", "Order"), ("n", "5")];
    assert_eq!(counts(&call(&f, &ctx, "/batch", &q).await), (5, 0, 0));
    let again = call(&f, &ctx, "/batch", &q).await;
    assert_eq!(counts(&again), (0, 5, 0));
    let key = again["value"]["items"][0]["idempotencyKey"]
        .as_str()
        .expect("key");
    assert_eq!(key.len(), 64);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    // Same content with another key order and spacing is the same record.
    let v = raw(
        &f,
        &ctx,
        json!({ "entity": "Order", "payloads": [
            r#"{ "total": 12.5, "name": "record 0", "id": 0 }"#
        ] }),
    )
    .await;
    assert_eq!(counts(&v), (0, 1, 0));
    assert_eq!(v["value"]["items"][0]["idempotencyKey"], key);
    assert_eq!(rows(f.data.path()).len(), 5);
}

#[tokio::test]
async fn doors_refuse_without_grant_connection_or_store() {
    let f = fixture().await;
    let ctx = context(&f);
    let msg = refused(
        &call(&f, &ctx, "/batch", &[("entity", "Invoice"), ("n", "2")]).await,
        "not_permitted",
    );
    assert!(msg.contains("Invoice"), "{msg}");
    // An entity name echoing a secret is redacted from the message.
    let msg = refused(
        &call(&f, &ctx, "/batch", &[("entity", CANARY), ("n", "1")]).await,
        "not_permitted",
    );
    assert!(!msg.contains(CANARY), "{msg}");
    assert!(msg.contains("[REDACTED]"), "{msg}");

    let sink: Arc<dyn IngestSink> = Arc::new(SqliteSink::new(f.store.clone()));
    let ad_hoc = builder().ingest(sink).build();
    let msg = refused(
        &call(&f, &ad_hoc, "/batch", &[("entity", "Order"), ("n", "2")]).await,
        "not_permitted",
    );
    assert!(msg.contains("stored connection"), "{msg}");

    let no_store = builder().connection(CONNECTION).build();
    refused(
        &call(&f, &no_store, "/batch", &[("entity", "Order"), ("n", "2")]).await,
        "not_permitted",
    );
    assert!(rows(f.data.path()).is_empty());
}

#[tokio::test]
async fn bad_items_fail_the_batch_or_are_reported_one_by_one() {
    let f = fixture().await;
    let ctx = context(&f);
    let q = [
        ("entity", "Order"),
        ("n", "5"),
        ("keys", "yes"),
        ("bad", "2"),
    ];
    let msg = refused(&call(&f, &ctx, "/batch", &q).await, "invalid_input");
    assert!(msg.contains("payload 2"), "{msg}");
    assert!(msg.contains("not an object"), "{msg}");
    assert!(rows(f.data.path()).is_empty(), "all or nothing");

    let mut q = q.to_vec();
    q.push(("continue", "yes"));
    let v = call(&f, &ctx, "/batch", &q).await;
    assert_eq!(counts(&v), (4, 0, 1));
    let bad = &v["value"]["items"][2];
    assert_eq!(bad["status"], "failed");
    assert!(
        bad["error"]
            .as_str()
            .expect("error")
            .contains("payload 2 is a JSON number"),
        "{bad}"
    );
    assert_eq!(rows(f.data.path()).len(), 4);

    // Raw texts: not JSON, a key count that does not match, an empty key, too big.
    let v = raw(
        &f,
        &ctx,
        json!({ "entity": "Order", "payloads": ["{\"id\":", "{}"], "continue": true,
                "keys": ["x-1", "x-2"] }),
    )
    .await;
    assert_eq!(counts(&v), (1, 0, 1));
    assert!(
        v["value"]["items"][0]["error"]
            .as_str()
            .expect("error")
            .contains("payload 0 is not valid JSON")
    );
    let msg = refused(
        &raw(
            &f,
            &ctx,
            json!({ "entity": "Order", "payloads": ["{}", "{}"], "keys": ["k"], "continue": true }),
        )
        .await,
        "invalid_input",
    );
    assert!(msg.contains("2 payloads but 1 idempotency keys"), "{msg}");
    let msg = refused(
        &raw(
            &f,
            &ctx,
            json!({ "entity": "Order", "payloads": ["{}"], "keys": [""] }),
        )
        .await,
        "invalid_input",
    );
    assert!(msg.contains("idempotency key 0 is empty"), "{msg}");
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(1 << 20));
    let msg = refused(
        &raw(&f, &ctx, json!({ "entity": "Order", "payloads": [big] })).await,
        "too_large",
    );
    assert!(msg.contains("payload 0"), "{msg}");
    assert_eq!(rows(f.data.path()).len(), 5);
}

fn keyway(args: &[&str], data_dir: &Path, key: &MasterKey) -> Output {
    keyway_command(data_dir)
        .args(args)
        .env("KEYWAY_LOG", "warn")
        .env("KEYWAY_MASTER_KEY", key.to_base64())
        .output()
        .expect("run keyway")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn keyway_records_prints_what_was_ingested() {
    let f = fixture().await;
    let ctx = context(&f);
    let orders = [
        ("entity", "Order"),
        ("n", "3"),
        ("keys", "yes"),
        ("stream", "orders"),
    ];
    assert_eq!(counts(&call(&f, &ctx, "/batch", &orders).await), (3, 0, 0));
    let customers = [("entity", "Customer"), ("n", "2"), ("offset", "100")];
    assert_eq!(
        counts(&call(&f, &ctx, "/batch", &customers).await),
        (2, 0, 0)
    );
    let dir = f.data.path();

    let text = stdout(&keyway(&["records", CONNECTION], dir, &f.key));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    let fields: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(fields[2..5], ["Order", "orders", "rec-0"], "{text}");
    assert!(
        fields[1].ends_with('Z') && fields[1].contains('T'),
        "{text}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(fields[5]).expect("payload")["name"],
        "record 0"
    );
    assert!(lines[4].contains("\tCustomer\t-\t"), "{text}");

    let json_text = stdout(&keyway(
        &["records", CONNECTION, "--entity", "Customer", "--json"],
        dir,
        &f.key,
    ));
    let json: Value = serde_json::from_str(&json_text).expect("JSON output");
    let list = json.as_array().expect("array");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["payload"]["id"], 100);
    assert_eq!(list[0]["connection"], CONNECTION);
    assert_eq!(list[0]["stream"], Value::Null);
    assert_eq!(list[0]["idempotencyKey"].as_str().map(str::len), Some(64));

    let json: Value = serde_json::from_str(&stdout(&keyway(
        &[
            "records", CONNECTION, "--stream", "orders", "--order", "newest", "--limit", "2",
            "--json",
        ],
        dir,
        &f.key,
    )))
    .expect("JSON output");
    let keys: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["idempotencyKey"].as_str())
        .collect();
    assert_eq!(keys, ["rec-2", "rec-1"]);

    let out = keyway(&["records", "no-such-connection"], dir, &f.key);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}
