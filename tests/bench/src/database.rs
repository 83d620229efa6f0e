//! Section 10: the store on PostgreSQL beside SQLite, in the same run and the same
//! process: a connection's tokens read (opened) and a refresh's write, a route call
//! through the services (the live connection, the guest's page fetch and ingest, the
//! history row), and ingest through the store's sink (100,000 records, then again as
//! duplicates); the token figures again over verified TLS (`sslmode=verify-full`). Each backend gets a fresh store: an SQLite file in a new data directory
//! (full sync), and a new database of a local PostgreSQL server (durable when
//! `KEYWAY_TEST_POSTGRES_DURABLE=1`, which `scripts/bench` sets; the section says which).

use crate::Plan;
use crate::ingest::{RECORDS, batches};
use crate::report::{Section, Target};
use crate::stats::{Spread, ratio, us};
use crate::tokens::{save_token, store_with_connection_at};
use anyhow::{Context, ensure};
use keyway_host::ingest::{self, SqliteSink};
use keyway_host::runtime::RouteRequest;
use keyway_host::services::Services;
use keyway_host::store::copy::copy_store;
use keyway_host::store::crypto::KeyOrigin;
use keyway_host::store::{DatabaseUrl, MasterKey, Store, TokenWrite, now_unix};
use keyway_host::types::Method;
use keyway_tests::pages::{PagesApi, create_pager_connection};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pages the route call fetches (ten records each).
const PAGES: u64 = 2;

/// One backend's figures.
struct Figures {
    read: Spread,
    write: Spread,
    call: Spread,
    ingest_first: Duration,
    ingest_again: Duration,
}

/// `keyway migrate-store`'s copy of the ingest store (100,000 records and the rest):
/// rows and time, SQLite to PostgreSQL, then PostgreSQL back to a new SQLite file.
struct Copied {
    rows: u64,
    to_postgres: Duration,
    back: Duration,
}

fn copy_figures(
    cluster: &keyway_test_postgres::Cluster,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<Copied> {
    let dir = tempfile::tempdir()?;
    let key = MasterKey::generate();
    let source = DatabaseUrl::sqlite_in(dir.path());
    let store = Arc::new(Store::open_with_key_at(dir.path(), &source, &key)?);
    ingest_figures(rt, store)?;
    let pg = DatabaseUrl::parse(&cluster.fresh_database()).map_err(|e| anyhow::anyhow!(e))?;
    let back = DatabaseUrl::Sqlite(dir.path().join("back.db"));
    let timed = |from: &DatabaseUrl, to: &DatabaseUrl| -> anyhow::Result<(u64, Duration)> {
        let start = Instant::now();
        let report = copy_store(from, to, &key, &KeyOrigin::Explicit)?;
        Ok((report.rows(), start.elapsed()))
    };
    let (rows, to_postgres) = timed(&source, &pg)?;
    let (rows_back, back_time) = timed(&pg, &back)?;
    ensure!(rows == rows_back, "{rows} rows went, {rows_back} came back");
    Ok(Copied {
        rows,
        to_postgres,
        back: back_time,
    })
}

fn token_figures(plan: &Plan, store: &Store, id: &str) -> anyhow::Result<(Spread, Spread)> {
    save_token(store, id, now_unix() + 3600)?;
    let n = plan.scale(2_000);
    let mut reads = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let t = store.tokens(id)?.context("the tokens")?;
        reads.push(start.elapsed());
        std::hint::black_box(t);
    }
    let n = plan.scale(500);
    let mut writes = Vec::with_capacity(n);
    for i in 0..n {
        let write = TokenWrite {
            access_token: SecretString::from(format!("bench-access-{i}")),
            refresh_token: Some(SecretString::from(format!("bench-refresh-{i}"))),
            token_type: Some("Bearer".into()),
            expires_at: Some(now_unix() + 3600),
            scopes: None,
        };
        let start = Instant::now();
        store.save_authorized_tokens(id, &write, &[], &BTreeMap::new())?;
        writes.push(start.elapsed());
    }
    Ok((Spread::of(reads), Spread::of(writes)))
}

fn route_figures(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    database: Option<DatabaseUrl>,
    api: &PagesApi,
) -> anyhow::Result<Spread> {
    let connectors = crate::streams::pager_connectors(api)?;
    let data = tempfile::tempdir()?;
    let mut config = keyway_tests::services_config(
        data.path().to_path_buf(),
        vec![connectors.path().to_path_buf()],
    );
    config.runtime = keyway_tests::test_runtime_config();
    config.egress.allowed_cidrs = vec!["127.0.0.1/32".parse()?];
    config.database = database;
    let services = Arc::new(Services::open(config)?);
    let rounds = plan.scale(200).max(5);
    let mut took = Vec::with_capacity(rounds);
    for round in 0..=rounds {
        // A connection per call: each imports its pages as new records.
        let name = format!("call-{round}");
        create_pager_connection(&services, &name, api, &[])?;
        let mut req = RouteRequest::new(Method::Post, "/sync/items");
        req.body = json!({ "maxPages": PAGES }).to_string().into_bytes();
        let start = Instant::now();
        let res = rt.block_on(services.invoke(&name, req))?;
        let elapsed = start.elapsed();
        let body: Value = serde_json::from_slice(&res.body).context("the route's answer")?;
        ensure!(body["imported"] == PAGES * 10, "the route imported {body}");
        // The first call compiled and loaded the component: not measured.
        if round > 0 {
            took.push(elapsed);
        }
    }
    Ok(Spread::of(took))
}

fn ingest_figures(
    rt: &tokio::runtime::Runtime,
    store: Arc<Store>,
) -> anyhow::Result<(Duration, Duration)> {
    let sink = SqliteSink::new(store);
    let batches = batches();
    let mut times = Vec::new();
    for expect_new in [true, false] {
        let connection: Arc<str> = Arc::from("bench-ingest");
        let (mut imported, mut duplicates) = (0u64, 0u64);
        let start = Instant::now();
        for batch in &batches {
            let res = rt
                .block_on(ingest::run(&sink, connection.clone(), batch.clone()))
                .map_err(|e| anyhow::anyhow!("a batch was refused: {e}"))?;
            imported += u64::from(res.imported);
            duplicates += u64::from(res.duplicates);
        }
        times.push(start.elapsed());
        let (want_new, want_dup) = if expect_new {
            (RECORDS as u64, 0)
        } else {
            (0, RECORDS as u64)
        };
        ensure!(
            imported == want_new && duplicates == want_dup,
            "ingest counted {imported} new, {duplicates} duplicates"
        );
    }
    Ok((times[0], times[1]))
}

/// The token figures on a new database reached over verified TLS, as the role the test
/// server lets in over TLS only.
fn tls_token_figures(
    plan: &Plan,
    cluster: &keyway_test_postgres::Cluster,
) -> anyhow::Result<(Spread, Spread)> {
    let roots: String =
        url::form_urlencoded::byte_serialize(cluster.ca_file().display().to_string().as_bytes())
            .collect();
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={roots}",
        cluster.fresh_tls_only_database()
    );
    let url = DatabaseUrl::parse(&url).map_err(|e| anyhow::anyhow!(e))?;
    let dir = tempfile::tempdir()?;
    let (store, record) = store_with_connection_at(dir.path(), Some(&url))?;
    token_figures(plan, &store, &record.id)
}

/// Where each part's fresh store goes: `None` for SQLite, or a new PostgreSQL database.
type Fresh<'a> = &'a dyn Fn() -> anyhow::Result<Option<DatabaseUrl>>;

fn measure(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    fresh: Fresh<'_>,
    api: &PagesApi,
) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let (store, record) = store_with_connection_at(dir.path(), fresh()?.as_ref())?;
    let (read, write) = token_figures(plan, &store, &record.id)?;
    let call = route_figures(plan, rt, fresh()?, api)?;
    let ingest_dir = tempfile::tempdir()?;
    let (ingest_store, _) = store_with_connection_at(ingest_dir.path(), fresh()?.as_ref())?;
    let (ingest_first, ingest_again) = ingest_figures(rt, ingest_store)?;
    Ok(Figures {
        read,
        write,
        call,
        ingest_first,
        ingest_again,
    })
}

pub fn run(plan: &Plan) -> anyhow::Result<(Section, Vec<Target>)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let api = rt.block_on(PagesApi::start(PAGES));
    let cluster = keyway_test_postgres::cluster();
    let durable = cluster
        .psql(&cluster.fresh_database(), "SHOW fsync")
        .map_err(|e| anyhow::anyhow!("asking the server its fsync setting: {e}"))?;
    let sqlite = measure(plan, &rt, &|| Ok(None), &api)?;
    let postgres = measure(
        plan,
        &rt,
        &|| {
            DatabaseUrl::parse(&cluster.fresh_database())
                .map(Some)
                .map_err(|e| anyhow::anyhow!(e))
        },
        &api,
    )?;

    let copied = copy_figures(cluster, &rt)?;
    let (tls_read, tls_write) = tls_token_figures(plan, cluster)?;

    let mut section = Section::new(
        "10, the store on PostgreSQL beside SQLite",
        "Each figure twice in one process, on a fresh store each: an SQLite file (full sync) \
         and a new database of a local PostgreSQL server. Token read: `Store::tokens` (one \
         row, two values opened); token write: `save_authorized_tokens` (one durable \
         transaction: both tokens sealed, the connection's row); route call: `Services::invoke` of the pager's sync route (two pages \
         from a local API, twenty records ingested, a history row); ingest: the store's sink, \
         100,000 records in batches of 500, then the same again (all duplicates); copy: \
         `keyway migrate-store`'s copy of that ingest store, SQLite to PostgreSQL and back.",
        &["figure", "SQLite", "PostgreSQL", "PostgreSQL / SQLite"],
    );
    let spread_row = |s: &mut Section, what: &str, a: &Spread, b: &Spread| {
        s.row(vec![
            format!("{what}, median (p99)"),
            format!("{:.1} µs ({:.1})", us(a.median), us(a.p99)),
            format!("{:.1} µs ({:.1})", us(b.median), us(b.p99)),
            ratio(b.median.as_secs_f64(), a.median.as_secs_f64()),
        ]);
    };
    spread_row(&mut section, "token read", &sqlite.read, &postgres.read);
    spread_row(&mut section, "token write", &sqlite.write, &postgres.write);
    spread_row(&mut section, "route call", &sqlite.call, &postgres.call);
    let rate = |d: Duration| RECORDS as f64 / d.as_secs_f64().max(1e-9);
    for (what, a, b) in [
        ("ingest, first", sqlite.ingest_first, postgres.ingest_first),
        ("ingest, again", sqlite.ingest_again, postgres.ingest_again),
    ] {
        section.row(vec![
            format!("{what} (records/s)"),
            format!("{:.0}", rate(a)),
            format!("{:.0}", rate(b)),
            ratio(rate(b), rate(a)),
        ]);
    }
    let per_s = |d: Duration| copied.rows as f64 / d.as_secs_f64().max(1e-9);
    section.row(vec![
        format!("copy of {} rows (rows/s)", copied.rows),
        format!("{:.0} (from)", per_s(copied.to_postgres)),
        format!("{:.0} (to)", per_s(copied.back)),
        "-".into(),
    ]);
    section.note(format!(
        "Over verified TLS (`sslmode=verify-full`, the server's certificate checked against \
         its authority; the same server): token read {:.1} µs median ({:.1} p99), {} plain; \
         token write {:.1} µs ({:.1}), {} plain.",
        us(tls_read.median),
        us(tls_read.p99),
        ratio(
            tls_read.median.as_secs_f64(),
            postgres.read.median.as_secs_f64()
        ),
        us(tls_write.median),
        us(tls_write.p99),
        ratio(
            tls_write.median.as_secs_f64(),
            postgres.write.median.as_secs_f64()
        ),
    ));
    section.figure(
        "postgres_tls",
        json!({ "token_read": tls_read.json(), "token_write": tls_write.json() }),
    );
    section.note(format!(
        "The PostgreSQL server runs on this machine with fsync = {} (loopback; a server on \
         another machine adds its network round trips to every statement).",
        durable.trim()
    ));
    section.figure(
        "copy",
        json!({
            "rows": copied.rows,
            "sqlite_to_postgres_per_s": per_s(copied.to_postgres),
            "postgres_to_sqlite_per_s": per_s(copied.back),
        }),
    );
    for (key, f) in [("sqlite", &sqlite), ("postgres", &postgres)] {
        section.figure(
            key,
            json!({
                "token_read": f.read.json(),
                "token_write": f.write.json(),
                "route_call": f.call.json(),
                "ingest_first_per_s": rate(f.ingest_first),
                "ingest_again_per_s": rate(f.ingest_again),
            }),
        );
    }
    Ok((section, Vec::new()))
}
