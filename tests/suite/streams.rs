//! Streams end to end: the real `keyway` binary, a real store, the compiled `pager`
//! component and a local paged API. A run killed with SIGKILL half-way resumes from its
//! last checkpoint with nothing lost or stored twice; the scheduler (driven in virtual
//! time) runs due streams once, never two runs of one stream at once, retries with
//! backoff, pauses on re-authorization, resumes a run its process left, and holds one
//! connector's runs to its limit; `keyway serve` runs a schedule by itself and
//! answers the streams API; a checkpoint carrying a secret is refused.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use keyway_host::services::{Scheduler, SchedulerOptions, Trigger};
use keyway_host::store::MasterKey;
use keyway_tests::backend::{self, literal, nullable};
use keyway_tests::pages::{PagesApi, create_pager_connection, pager_manifest, pager_services};
use keyway_tests::server::{ADMIN_KEY, Connectors, Server};
use keyway_tests::{components, keyway_command};
use serde_json::Value;

const ITEMS_STREAM: &str = r#"[{ "key": "items", "route": "/sync/items", "entity": "Item" }]"#;

struct Setup {
    data: tempfile::TempDir,
    connectors: Connectors,
    key: MasterKey,
}

impl Setup {
    fn new(api: &PagesApi, streams: &str) -> Setup {
        let connectors = Connectors::new();
        connectors.add(
            "pager",
            &pager_manifest(&api.base(), streams),
            components::PAGER,
        );
        Setup {
            data: tempfile::tempdir().expect("tempdir"),
            connectors,
            key: MasterKey::generate(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = keyway_command(self.data.path());
        cmd.args(args)
            .env("KEYWAY_CONNECTORS", self.connectors.path())
            .env("KEYWAY_LOG", "warn")
            .env("KEYWAY_MASTER_KEY", self.key.to_base64())
            .env("PAGER_TOKEN", "pager-token-canary-4b1d7e")
            .stdin(Stdio::null());
        cmd
    }

    fn keyway(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run keyway")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.keyway(args);
        assert!(
            out.status.success(),
            "keyway {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn create(&self, name: &str, api: &PagesApi) {
        self.ok(&[
            "connections",
            "create",
            name,
            "--connector",
            "pager",
            "--setting",
            &format!("baseUrl={}", api.base()),
            "--secret-env",
            "token=PAGER_TOKEN",
        ]);
    }

    /// The data directory, whose store `keys`, `cursor` and `state` read with SQL.
    fn db(&self) -> PathBuf {
        self.data.path().to_path_buf()
    }
}

fn keys(db: &Path, connection: &str) -> Vec<String> {
    let sql = format!(
        "SELECT idempotency_key FROM records WHERE connection = {} ORDER BY id",
        literal(connection)
    );
    backend::query(db, &sql)
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect()
}

fn cursor(db: &Path, connection: &str) -> Option<String> {
    let sql = format!(
        "SELECT cursor FROM stream_state WHERE connection = {} AND stream = 'items'",
        literal(connection)
    );
    nullable(&backend::query_one(db, &sql)).map(str::to_string)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_half_way_resumes_from_its_last_checkpoint_with_nothing_lost_or_doubled() {
    let api = PagesApi::start(20).await;
    let setup = Setup::new(&api, ITEMS_STREAM);
    setup.create("shop", &api);
    setup.create("clean", &api);

    // The first run hangs on page 8 and is killed there with SIGKILL.
    api.hang_at(8);
    let mut child = setup
        .command(&[
            "streams",
            "run",
            "shop",
            "items",
            "--allow-cidr",
            "127.0.0.1/32",
            "--json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn keyway streams run");
    tokio::time::timeout(Duration::from_secs(300), api.hung())
        .await
        .expect("the run reached page 8");
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    // Pages 0..=7 were checkpointed one by one, each with its records.
    let db = setup.db();
    assert_eq!(keys(&db, "shop").len(), 80);
    assert_eq!(cursor(&db, "shop").as_deref(), Some("8"));
    api.release();
    // On PostgreSQL the run lock is a lease, not a file lock the kernel lets go of with
    // the process: the killed run blocks the stream until its lease runs out
    // (`STREAM_LEASE`, by design: `store/stream_lock.rs`). Wait that long.
    if backend::postgres() {
        let until_ms: i64 = backend::query_one(
            &db,
            "SELECT max(expires_at_ms) FROM leases WHERE name LIKE 'stream-%'",
        )
        .parse()
        .expect("the killed run's lease");
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64;
        let left = u64::try_from(until_ms - now_ms + 100).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(left)).await;
    }

    // The next run resumes at page 8, stores the rest, and marks the killed one.
    let out = json(&setup.ok(&[
        "streams",
        "run",
        "shop",
        "items",
        "--allow-cidr",
        "127.0.0.1/32",
        "--json",
    ]));
    assert_eq!(out["status"], "succeeded", "{out}");
    assert_eq!(out["startCursor"], "8", "{out}");
    assert_eq!(out["imported"], 120, "{out}");
    assert_eq!(out["duplicates"], 0, "{out}");
    assert_eq!(out["pages"], 12, "{out}");
    let runs = json(&setup.ok(&["runs", "list", "--connection", "shop", "--json"]));
    let statuses: Vec<&str> = runs
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(statuses, ["succeeded", "interrupted"], "{runs}");

    // Only the page in flight when the run was killed was fetched twice.
    api.assert_fetched_once_but(20, 8);

    // The record set equals a clean run's, with no key twice.
    setup.ok(&[
        "streams",
        "run",
        "clean",
        "items",
        "--allow-cidr",
        "127.0.0.1/32",
    ]);
    let shop = keys(&db, "shop");
    let clean = keys(&db, "clean");
    assert_eq!(shop.len(), 200);
    let shop_set: BTreeSet<&String> = shop.iter().collect();
    let clean_set: BTreeSet<&String> = clean.iter().collect();
    assert_eq!(shop_set.len(), 200);
    assert_eq!(shop_set, clean_set);
    // An incremental stream keeps its cursor: the next run starts at the last page.
    assert_eq!(cursor(&db, "shop").as_deref(), Some("19"));

    // Reset starts over; an unknown stream is named with the ones there are.
    setup.ok(&["streams", "reset", "shop", "items"]);
    assert_eq!(cursor(&db, "shop"), None);
    let out = setup.keyway(&["streams", "run", "shop", "orders"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has no stream `orders`") && err.contains("it has items"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_carrying_a_secret_is_refused_and_never_stored() {
    let api = PagesApi::start(2).await;
    let setup = Setup::new(
        &api,
        r#"[{ "key": "leak", "route": "/sync/leak", "entity": "Item" }]"#,
    );
    setup.create("shop", &api);
    let out = json(&setup.ok(&["streams", "run", "shop", "leak", "--json"]));
    assert_eq!(out["status"], "succeeded", "{out}");
    assert_eq!(out["checkpoint"], Value::Null, "{out}");
    let stored = backend::stored_bytes(setup.data.path());
    assert!(
        !stored
            .windows(b"pager-token-canary-4b1d7e".len())
            .any(|w| w == b"pager-token-canary-4b1d7e"),
        "the secret reached the store"
    );
    // What the guest was told names the rule.
    let invocations = backend::query_one(&setup.db(), "SELECT count(*) FROM invocations");
    assert_eq!(invocations, "1");
}

async fn tick(scheduler: &Arc<Scheduler>, now: i64) -> usize {
    let started = scheduler.tick(now).await.expect("a scheduler pass");
    let n = started.len();
    for handle in started {
        handle.await.expect("the run's task");
    }
    n
}

/// 2026-01-01T00:07:00Z.
const T0: i64 = 1_767_226_020;
/// 2026-01-01T00:15:00Z, the next quarter hour.
const Q1: i64 = 1_767_226_500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_runs_due_streams_once_retries_and_pauses_in_virtual_time() {
    let api = PagesApi::start(3).await;
    let setup = Setup::new(
        &api,
        r#"[{ "key": "items", "route": "/sync/items", "entity": "Item", "schedule": "*/15 * * * *", "mode": "full" }]"#,
    );
    let services = pager_services(setup.data.path(), setup.connectors.path());
    create_pager_connection(&services, "shop", &api, &[]).expect("create connection");
    let scheduler = Scheduler::new(services.clone(), SchedulerOptions::default());
    let state = |db: &Path| -> (Option<i64>, Option<i64>, i64, i64, Option<String>) {
        let r = backend::query(
            db,
            "SELECT next_run_at, retry_at, attempts, paused, pause_reason FROM stream_state
             WHERE connection = 'shop' AND stream = 'items'",
        )
        .remove(0);
        let int = |v: &str| v.parse::<i64>().expect("a number");
        (
            nullable(&r[0]).map(int),
            nullable(&r[1]).map(int),
            int(&r[2]),
            int(&r[3]),
            nullable(&r[4]).map(str::to_string),
        )
    };
    let db = setup.db();

    // Never ran: due at once; the next run is booked at the next quarter hour.
    assert_eq!(tick(&scheduler, T0).await, 1);
    assert_eq!(state(&db).0, Some(Q1));
    assert_eq!(keys(&db, "shop").len(), 30);
    // A full stream clears its cursor after a whole pass.
    assert_eq!(cursor(&db, "shop"), None);
    assert_eq!(tick(&scheduler, T0 + 60).await, 0);
    assert_eq!(tick(&scheduler, Q1).await, 1);
    assert_eq!(state(&db).0, Some(Q1 + 900));

    // Down for ten ticks: one run on the way back, not ten, and the next one ahead.
    let back = Q1 + 10 * 900 + 7 * 60;
    assert_eq!(tick(&scheduler, back).await, 1);
    assert_eq!(tick(&scheduler, back).await, 0);
    let next = state(&db).0.expect("booked");
    assert!(next > back && next - back <= 900, "{next} after {back}");

    // Never two runs at once: a run hangs; a pass and a manual start leave it alone.
    api.hang_at(1);
    let started = scheduler.tick(next).await.expect("pass");
    assert_eq!(started.len(), 1);
    api.hung().await;
    assert_eq!(scheduler.tick(next + 900).await.expect("pass").len(), 0);
    let busy = services
        .start_stream_run("shop", "items", Trigger::Manual)
        .await;
    assert!(
        matches!(&busy, Err(e) if e.to_string().contains("is running")),
        "a second run started"
    );
    api.release();
    for h in started {
        h.await.expect("run");
    }

    // A failure is retried after a backoff with jitter, then forgotten on success.
    let now = next + 2 * 900;
    api.fail_next(1);
    assert_eq!(tick(&scheduler, now).await, 1);
    let (_, retry_at, attempts, _, _) = state(&db);
    let retry_at = retry_at.expect("a retry is booked");
    assert_eq!(attempts, 1);
    assert!(
        (now + 15..=now + 30).contains(&retry_at),
        "first retry {retry_at} not 15-30 s after {now}"
    );
    assert_eq!(tick(&scheduler, retry_at - 1).await, 0);
    assert_eq!(tick(&scheduler, retry_at).await, 1);
    let (_, retry_at, attempts, _, _) = state(&db);
    assert_eq!((retry_at, attempts), (None, 0));
    let runs = services
        .stream_runs(&keyway_host::store::RunQuery {
            connection: Some("shop".into()),
            limit: 2,
            ..Default::default()
        })
        .expect("runs")
        .items;
    assert_eq!(runs[0].trigger, "retry");
    assert_eq!(runs[0].status, "succeeded");
    assert_eq!(runs[1].status, "failed");
    assert!(
        runs[1].error.as_deref().unwrap_or("").contains("500"),
        "{:?}",
        runs[1].error
    );

    // A run that fails while the connection needs a new authorization pauses the stream.
    backend::query(
        &db,
        "UPDATE connections SET status = 'reauth_required' WHERE name = 'shop'",
    );
    api.fail_next(1);
    let later = now + 3 * 900;
    assert_eq!(tick(&scheduler, later).await, 1);
    let (_, _, _, paused, reason) = state(&db);
    assert_eq!((paused, reason.as_deref()), (1, Some("reauth_required")));
    assert_eq!(tick(&scheduler, later + 900).await, 0);
    services
        .resume_stream("shop", "items")
        .await
        .expect("resume");
    assert_eq!(tick(&scheduler, later + 1800).await, 1);

    // A run its process left behind (killed while the lock was held): the next pass resumes
    // it at once, before its schedule, and the leftover is marked interrupted.
    backend::query(
        &db,
        "INSERT INTO stream_runs (id, connection, stream, trigger, status, started_at_ms)
         VALUES ('run_left', 'shop', 'items', 'schedule', 'running', 99999999999999)",
    );
    assert_eq!(tick(&scheduler, later + 1801).await, 1);
    let runs = services
        .stream_runs(&keyway_host::store::RunQuery {
            connection: Some("shop".into()),
            limit: 1000,
            ..Default::default()
        })
        .expect("runs")
        .items;
    let resumed = runs
        .iter()
        .find(|r| r.trigger == "resume")
        .expect("a resumed run");
    assert_eq!(resumed.status, "succeeded");
    let left = runs
        .iter()
        .find(|r| r.id == "run_left")
        .expect("the leftover");
    assert_eq!(left.status, "interrupted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyway_serve_runs_a_schedule_by_itself_and_answers_the_streams_api() {
    let api = PagesApi::start(3).await;
    let connectors = Connectors::new();
    connectors.add(
        "pager",
        &pager_manifest(
            &api.base(),
            r#"[{ "key": "items", "route": "/sync/items", "entity": "Item", "schedule": "every 1s", "mode": "full" }]"#,
        ),
        components::PAGER,
    );
    let server = Server::start(
        connectors.path(),
        &["--allow-private-network", "127.0.0.1/32"],
    );
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = http
            .request(method, server.url(path))
            .bearer_auth(ADMIN_KEY);
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        async move {
            // Through the suite's `send`, so the canary sweep sees every answer.
            let a = keyway_tests::server::send(req).await;
            let body = serde_json::from_str::<Value>(&a.text).unwrap_or(Value::String(a.text));
            (a.status, body)
        }
    };
    let (status, body) = call(
        reqwest::Method::POST,
        "/v1/connections",
        Some(serde_json::json!({
            "name": "shop", "connector": "pager", "settings": { "baseUrl": api.base() }
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // Runs start by themselves within seconds.
    let scheduled_runs = |runs: &Value| {
        runs["runs"].as_array().map_or(0, |r| {
            r.iter()
                .filter(|r| r["trigger"] == "schedule" && r["status"] == "succeeded")
                .count()
        })
    };
    let mut scheduled = 0;
    for _ in 0..600 {
        let (_, runs) = call(reqwest::Method::GET, "/v1/runs?connection=shop", None).await;
        scheduled = scheduled_runs(&runs);
        if scheduled >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(scheduled >= 2, "no scheduled runs:\n{}", server.logs());

    let (_, streams) = call(reqwest::Method::GET, "/v1/streams?connection=shop", None).await;
    assert_eq!(streams["streams"][0]["schedule"], "every 1s", "{streams}");
    assert_eq!(streams["streams"][0]["mode"], "full", "{streams}");

    // Paused: no run starts; a manual run is still possible and answered 202.
    let (status, _) = call(
        reqwest::Method::POST,
        "/v1/connections/shop/streams/items/pause",
        None,
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let count = |v: &Value| v["runs"].as_array().map_or(0, Vec::len);
    let (_, before) = call(
        reqwest::Method::GET,
        "/v1/runs?connection=shop&limit=1000",
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, after) = call(
        reqwest::Method::GET,
        "/v1/runs?connection=shop&limit=1000",
        None,
    )
    .await;
    assert_eq!(count(&before), count(&after), "a paused stream ran");
    let (status, started) = call(
        reqwest::Method::POST,
        "/v1/connections/shop/streams/items/run",
        None,
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let run_id = started["runId"].as_str().expect("run id").to_string();
    let mut run = Value::Null;
    for _ in 0..300 {
        (_, run) = call(reqwest::Method::GET, &format!("/v1/runs/{run_id}"), None).await;
        if run["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["trigger"], "manual", "{run}");
    let (status, _) = call(
        reqwest::Method::POST,
        "/v1/connections/shop/streams/nope/run",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Every run is counted, the scheduled ones and the one asked for (the stream is paused,
    // so the count stands still; a run is counted just after its row is written).
    let (_, all) = call(
        reqwest::Method::GET,
        "/v1/runs?connection=shop&limit=1000",
        None,
    )
    .await;
    let mut metrics = String::new();
    let mut counted = None;
    for _ in 0..100 {
        metrics = http
            .get(server.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        counted = metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(
                    r#"keyway_stream_runs_total{connector="pager",stream="items",status="succeeded"} "#,
                )
            })
            .and_then(|n| n.trim().parse::<usize>().ok());
        if counted == Some(count(&all)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counted, Some(count(&all)), "{metrics}");
    assert!(metrics.contains("keyway_stream_records_total"), "{metrics}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connectors_runs_wait_for_its_limit() {
    let api = PagesApi::start(2).await;
    let setup = Setup::new(
        &api,
        r#"[{ "key": "items", "route": "/sync/items", "entity": "Item", "schedule": "every 1m" }]"#,
    );
    let services = pager_services(setup.data.path(), setup.connectors.path());
    for name in ["a", "b"] {
        create_pager_connection(&services, name, &api, &[]).expect("create connection");
    }
    let scheduler = Scheduler::new(
        services.clone(),
        SchedulerOptions {
            per_connector: 1,
            ..SchedulerOptions::default()
        },
    );
    // Both are due; the first holds the connector's only slot while its page hangs.
    api.hang_at(0);
    let first = scheduler.tick(T0).await.expect("pass");
    assert_eq!(first.len(), 1);
    api.hung().await;
    assert_eq!(scheduler.tick(T0 + 1).await.expect("pass").len(), 0);
    assert_eq!(scheduler.running(), 1);
    api.release();
    for h in first {
        h.await.expect("run");
    }
    // The slot is free: the other one runs now, still due.
    assert_eq!(tick(&scheduler, T0 + 2).await, 1);
    let db = setup.db();
    assert_eq!(keys(&db, "a").len(), 20);
    assert_eq!(keys(&db, "b").len(), 20);
}
