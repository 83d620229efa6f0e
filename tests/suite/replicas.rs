//! Several `keyway serve` replicas on one PostgreSQL database: the real binary, a
//! throw-away PostgreSQL cluster, the real OAuth server and compiled components. A
//! thousand token requests spread over three replicas cause one refresh; a replica killed
//! with SIGKILL while its refresh is in flight loses no token (another refreshes once its
//! lease runs out); each tick of a scheduled stream runs once across three replicas; a
//! run whose replica was killed is resumed by another from its last checkpoint; a console
//! sign-in made on one replica holds on another, and signing out on one ends it on all.
//!
//! Every replica has its own data directory; they share the database and the master key,
//! as replicas on several machines would.

use std::path::Path;
use std::time::{Duration, Instant};

use keyway_host::services::Services;
use keyway_host::store::{DatabaseUrl, MasterKey};
use keyway_tests::components;
use keyway_tests::console;
use keyway_tests::oidc::{OidcServer, connect_e2e, write_e2e_connector};
use keyway_tests::pages::{PagesApi, pager_manifest};
use keyway_tests::provider::LocalApi;
use keyway_tests::server::{ADMIN_KEY, Connectors, Server, send};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const CLIENT_SECRET: &str = "canary-client-secret-replicas-71c4";

/// Short leases, so a killed replica's refresh and run are taken over within seconds.
const SHORT_LEASES: &str = "[refresh]\nlease_seconds = 3\n\n[streams]\nlease_seconds = 3\n";

/// One replica of the installation whose database is `db` and master key `key`.
fn replica(connectors: &Path, db: &str, key: &MasterKey, extra: &[&str]) -> Server {
    let key = key.to_base64();
    keyway_tests::artifacts::canary(&key);
    let mut args = vec!["--allow-private-network", "127.0.0.1/32"];
    args.extend_from_slice(extra);
    Server::start_with(
        connectors,
        &args,
        &[("KEYWAY_DATABASE_URL", db), ("KEYWAY_MASTER_KEY", &key)],
    )
}

/// A configuration file with short leases, in `dir`.
fn short_leases(dir: &Path) -> String {
    let path = dir.join("replica.toml");
    std::fs::write(&path, SHORT_LEASES).expect("config file");
    path.display().to_string()
}

fn psql(db: &str, sql: &str) -> String {
    keyway_test_postgres::cluster()
        .psql(db, sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The e2e connector's connection `e2e-conn`, authorized at the real provider by an
/// in-process host on `db`; returns the master key the replicas must share.
async fn connected(db: &str, dir: &Path, connectors: &Path, server: &OidcServer) -> MasterKey {
    let data = dir.join("setup");
    let mut config = keyway_tests::loopback_services_config(data.clone(), vec![connectors.into()]);
    config.database = Some(DatabaseUrl::parse(db).expect("database URL"));
    let services = Services::open(config).expect("services");
    connect_e2e(&services, server, CLIENT_SECRET, REDIRECT).await;
    drop(services);
    // The key the in-process host made on first use, which the replicas are given.
    let text = std::fs::read_to_string(data.join("master.key")).expect("the key file");
    MasterKey::from_base64(&text, "the setup's key file").expect("a key")
}

/// An installation with the `e2e` connection authorized at a real provider, ready for
/// replicas: its database, master key and connectors.
struct Connected {
    db: String,
    server: OidcServer,
    api: LocalApi,
    dir: tempfile::TempDir,
    connectors: std::path::PathBuf,
    key: MasterKey,
}

impl Connected {
    async fn new() -> Connected {
        let db = keyway_test_postgres::cluster().fresh_database();
        let server = OidcServer::start(CLIENT_SECRET, &[REDIRECT], 3600);
        let api = LocalApi::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let connectors = dir.path().join("connectors");
        write_e2e_connector(&connectors, &server, &api);
        let key = connected(&db, dir.path(), &connectors, &server).await;
        Connected {
            db,
            server,
            api,
            dir,
            connectors,
            key,
        }
    }
}

/// A route call that needs the connection's access token (injected by the host).
fn token_call(
    http: &reqwest::Client,
    replica: &Server,
    api: &LocalApi,
    key: &str,
) -> reqwest::RequestBuilder {
    http.get(replica.url("/v1/connections/e2e-conn/routes/call"))
        .query(&[("url", api.url("/ok").as_str()), ("auth", "oauth")])
        .bearer_auth(key)
}

/// Refresh-token grants the provider's proxy saw since its last reset.
async fn refreshes(server: &OidcServer) -> u64 {
    server.stats().await["grantTypes"]["refresh_token"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_token_requests_over_three_replicas_cause_one_refresh() {
    let Connected {
        db,
        server,
        api,
        dir: _dir,
        connectors,
        key,
    } = Connected::new().await;
    // Every replica finds the access token expired: the first to look (a caller, or a
    // replica's background refresher as it starts) refreshes, the others wait for it.
    psql(&db, "UPDATE tokens SET expires_at = 1");
    server.proxy_control("reset").await;
    let limits = ["--max-concurrent", "400", "--max-concurrent-per-key", "400"];
    let replicas: Vec<Server> = (0..3)
        .map(|_| replica(&connectors, &db, &key, &limits))
        .collect();
    let (_, api_key) = replicas[0].create_api_key("stampede");

    let http = reqwest::Client::new();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let req = token_call(&http, &replicas[i % 3], &api, &api_key);
        calls.spawn(async move { send(req).await });
    }
    let mut ok = 0;
    while let Some(answer) = calls.join_next().await {
        let answer = answer.expect("a call's task");
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.json["value"]["status"], 200, "{}", answer.text);
        ok += 1;
    }
    assert_eq!(ok, 1000);
    assert_eq!(
        refreshes(&server).await,
        1,
        "one refresh for a thousand callers on three replicas: {}",
        server.stats().await
    );
    assert_eq!(server.token_requests().await, 1);
    // Each replica served a share, with the one refreshed token.
    for r in &replicas {
        assert!(
            r.logs().contains("e2e-conn") || !r.logs().is_empty(),
            "a replica that logged nothing"
        );
    }
    let seen = api.seen();
    assert_eq!(seen.len(), 1000);
    let first = seen[0].header("authorization").map(str::to_owned);
    assert!(
        seen.iter()
            .all(|s| s.header("authorization").map(str::to_owned) == first),
        "every call carried the same refreshed token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_while_it_refreshes_loses_no_token() {
    let Connected {
        db,
        server,
        api,
        dir,
        connectors,
        key,
    } = Connected::new().await;
    psql(&db, "UPDATE tokens SET expires_at = 1");
    server.proxy_control("reset").await;

    // Replica a starts the refresh (its background refresher as it starts, or the call
    // below); the token request is held at the provider's door.
    server.proxy_control("hold").await;
    let config = short_leases(dir.path());
    let mut a = replica(&connectors, &db, &key, &["--config", &config]);
    let (_, api_key) = a.create_api_key("killed");
    let http = reqwest::Client::new();
    let in_flight = tokio::spawn(token_call(&http, &a, &api, &api_key).send());
    let until = Instant::now() + Duration::from_secs(120);
    while server.stats().await["held"].as_u64() != Some(1) {
        assert!(
            Instant::now() < until,
            "the refresh never reached the provider"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Killed mid-refresh, holding the connection's refresh lease.
    a.kill();
    assert!(in_flight.await.expect("task").is_err(), "a was killed");
    // The provider never answered it: the refresh token a held is still the one stored.
    server.proxy_control("drop").await;
    let b = replica(&connectors, &db, &key, &["--config", &config]);

    // Replica b waits out a's lease, refreshes once, and answers with the new token.
    let answer = send(token_call(&http, &b, &api, &api_key)).await;
    assert_eq!(answer.status, 200, "{}\n{}", answer.text, b.logs());
    assert_eq!(answer.json["value"]["status"], 200, "{}", answer.text);
    let stats = server.stats().await;
    assert_eq!(
        stats["tokenRequests"], 2,
        "the dropped one and b's: {stats}"
    );
    assert_eq!(refreshes(&server).await, 2, "{stats}");
    assert_eq!(
        psql(
            &db,
            "SELECT status FROM connections WHERE name = 'e2e-conn'"
        )
        .trim(),
        "connected"
    );
    // And again without a refresh: the token b stored serves the next call.
    let answer = send(token_call(&http, &b, &api, &api_key)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(server.token_requests().await, 2);
}

/// The admin API of `replica`: status and JSON body.
async fn admin(
    replica: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, replica.url(path))
        .bearer_auth(ADMIN_KEY);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let a = send(req).await;
    (a.status, a.json)
}

/// `n` replicas on a new database with the pager connector of `api` and its `streams`
/// (short leases when asked), and the connection `shop` made through the first: the
/// database, and what must outlive the replicas.
async fn pager_replicas(
    api: &PagesApi,
    streams: &str,
    n: usize,
    short: bool,
) -> (String, Connectors, tempfile::TempDir, Vec<Server>) {
    let db = keyway_test_postgres::cluster().fresh_database();
    let connectors = Connectors::new();
    connectors.add(
        "pager",
        &pager_manifest(&api.base(), streams),
        components::PAGER,
    );
    let key = MasterKey::generate();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = short_leases(dir.path());
    let extra: &[&str] = if short { &["--config", &config] } else { &[] };
    let replicas: Vec<Server> = (0..n)
        .map(|_| replica(connectors.path(), &db, &key, extra))
        .collect();
    let (status, body) = admin(
        &replicas[0],
        reqwest::Method::POST,
        "/v1/connections",
        Some(
            json!({ "name": "shop", "connector": "pager", "settings": { "baseUrl": api.base() } }),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (db, connectors, dir, replicas)
}

async fn runs(replica: &Server) -> Vec<Value> {
    let (status, runs) = admin(
        replica,
        reqwest::Method::GET,
        "/v1/runs?connection=shop&limit=1000",
        None,
    )
    .await;
    assert_eq!(status, 200, "{runs}");
    runs["runs"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_stream_tick_runs_once_across_three_replicas() {
    let api = PagesApi::start(3).await;
    let (db, _connectors, _dir, replicas) = pager_replicas(
        &api,
        r#"[{ "key": "items", "route": "/sync/items", "entity": "Item", "schedule": "every 2s", "mode": "full" }]"#,
        3,
        false,
    )
    .await;

    // Three replicas pass over the schedule for a while.
    let until = Instant::now() + Duration::from_secs(300);
    let mut done = Vec::new();
    while done.len() < 5 {
        assert!(Instant::now() < until, "the schedule did not run");
        tokio::time::sleep(Duration::from_millis(200)).await;
        done = runs(&replicas[1])
            .await
            .into_iter()
            .filter(|r| r["status"] != "running")
            .collect();
    }
    drop(replicas);

    let all = {
        let rows = psql(
            &db,
            "SELECT started_at_ms, status, trigger FROM stream_runs WHERE connection = 'shop' ORDER BY started_at_ms",
        );
        rows.lines()
            .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    assert!(
        all.iter()
            .all(|r| r[1] == "succeeded" && r[2] == "schedule"),
        "{all:?}"
    );
    // No more runs than ticks from the first run's to the last's: a tick run by two
    // replicas would make one more.
    let first: i64 = all[0][0].parse().expect("ms");
    let last: i64 = all[all.len() - 1][0].parse().expect("ms");
    let ticks = last / 2000 - first / 2000 + 1;
    assert!(
        all.len() as i64 <= ticks,
        "{} runs for {ticks} ticks: {all:?}",
        all.len()
    );
    // Each run fetched each page once.
    for (page, n) in api.requests() {
        assert_eq!(n as usize, all.len(), "page {page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_replica_s_run_is_resumed_by_another_from_its_last_checkpoint() {
    let api = PagesApi::start(20).await;
    let (db, _connectors, _dir, mut replicas) = pager_replicas(
        &api,
        r#"[{ "key": "items", "route": "/sync/items", "entity": "Item" }]"#,
        2,
        true,
    )
    .await;
    let b = replicas.pop().expect("replica b");
    let mut a = replicas.pop().expect("replica a");

    // Replica a runs the stream and is killed with SIGKILL on page 8.
    api.hang_at(8);
    let (status, started) = admin(
        &a,
        reqwest::Method::POST,
        "/v1/connections/shop/streams/items/run",
        None,
    )
    .await;
    assert_eq!(status, 202, "{started}");
    tokio::time::timeout(Duration::from_secs(300), api.hung())
        .await
        .expect("the run reached page 8");
    a.kill();
    api.release();

    // Replica b's scheduler finds the run left running once a's lease has run out, and
    // resumes it from page 8.
    let until = Instant::now() + Duration::from_secs(300);
    let done = loop {
        assert!(
            Instant::now() < until,
            "nobody resumed the run:\n{}",
            b.logs()
        );
        let all = runs(&b).await;
        if let Some(done) = all.iter().find(|r| r["status"] == "succeeded") {
            break (done.clone(), all);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (resumed, all) = done;
    assert_eq!(resumed["trigger"], "resume", "{resumed}");
    assert_eq!(resumed["startCursor"], "8", "{resumed}");
    assert_eq!(resumed["imported"], 120, "{resumed}");
    assert_eq!(resumed["duplicates"], 0, "{resumed}");
    let statuses: Vec<&str> = all.iter().filter_map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["succeeded", "interrupted"], "{all:?}");
    // Only the page in flight when a died was fetched twice.
    api.assert_fetched_once_but(20, 8);
    let counts = psql(
        &db,
        "SELECT count(*), count(DISTINCT idempotency_key) FROM records WHERE connection = 'shop'",
    );
    assert_eq!(counts.trim(), "200\t200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_sign_in_holds_on_every_replica_and_a_sign_out_ends_it_on_all() {
    let db = keyway_test_postgres::cluster().fresh_database();
    let connectors = Connectors::new();
    let key = MasterKey::generate();
    let a = replica(connectors.path(), &db, &key, &[]);
    let b = replica(connectors.path(), &db, &key, &[]);
    let http = console::client();
    let cookie = console::login(&http, &a).await;

    // The store keeps the session id's digest, never the id.
    let id = cookie.split_once('=').map(|(_, id)| id).unwrap_or_default();
    assert!(!id.is_empty(), "{cookie}");
    let stored = psql(&db, "SELECT id_digest FROM console_sessions");
    assert_eq!(stored.trim(), hex::encode(Sha256::digest(id.as_bytes())));

    // Signed in on the other replica, whose page carries the same session's token.
    let res = http
        .get(b.url("/console/connections"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET on b");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let token = console::csrf(&res.text().await.unwrap_or_default());

    // Signing out on the first ends the session on the other.
    let res = http
        .post(a.url("/console/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .expect("logout on a");
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
    for replica in [&a, &b] {
        let res = http
            .get(replica.url("/console/connections"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("GET after logout");
        assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
        assert_eq!(console::location(&res), "/console/login");
    }
    assert_eq!(
        psql(&db, "SELECT COUNT(*) FROM console_sessions").trim(),
        "0"
    );
}
