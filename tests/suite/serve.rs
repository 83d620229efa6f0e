//! `keyway serve` driven over real HTTP as a child process: the sandbox flow from
//! connection to records, API-key and admin-key enforcement, guests that loop or exhaust
//! memory, the concurrency cap under 200 concurrent calls, graceful shutdown with an
//! invocation in flight, and the open endpoints.

use std::time::Duration;

use keyway_tests::server::{
    ADMIN_KEY, Answer, Connectors, Server, approve_at_sandbox, client, send, until, with_json,
};
use serde_json::{Value, json};

fn admin(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    req.bearer_auth(ADMIN_KEY)
}

/// The newest stream run of `demo` that `pick` accepts, once it has ended.
async fn wait_for_run(
    http: &reqwest::Client,
    server: &Server,
    pick: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..600 {
        let runs = send(admin(http.get(server.url("/v1/runs?connection=demo")))).await;
        if let Some(run) = runs.json["runs"]
            .as_array()
            .and_then(|r| r.iter().find(|r| pick(r) && r["status"] != "running"))
        {
            return run.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no such run ended:\n{}", server.logs());
}

#[tokio::test]
async fn sandbox_flow_from_connection_to_records() {
    // The sandbox connector names the provider's default address; the test uses it.
    let sandbox_listen = "127.0.0.1:8788";
    let connectors = Connectors::new();
    connectors.add_sandbox();
    let server = Server::start(connectors.path(), &["--sandbox"]);
    assert_eq!(
        server.sandbox.as_deref(),
        Some(format!("http://{sandbox_listen}").as_str())
    );
    let http = client();

    server.create_connection("demo", "sandbox").await;
    let a = send(admin(
        http.post(server.url("/v1/connections/demo/authorize")),
    ))
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let auth_url = a.json["authorizationUrl"]
        .as_str()
        .expect("URL")
        .to_string();
    assert!(auth_url.starts_with(&format!("http://{sandbox_listen}/oauth/authorize?")));
    assert!(auth_url.contains("code_challenge_method=S256"));

    // The approval page, then Approve, as a browser would.
    let callback = approve_at_sandbox(&http, &auth_url).await;
    assert!(
        callback.starts_with(&server.url("/oauth/callback?")),
        "{callback}"
    );

    let done = send(http.get(&callback).header("accept", "application/json")).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json["connection"], "demo");
    assert_eq!(
        done.json["account"]["id"], "acct_sandbox_1",
        "{}",
        done.text
    );
    // The same callback again: the state was used up.
    let again = send(http.get(&callback).header("accept", "application/json")).await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert_eq!(again.json["error"]["code"], "authorization_failed");

    let shown = send(admin(http.get(server.url("/v1/connections/demo")))).await;
    assert_eq!(shown.json["status"], "connected", "{}", shown.text);
    assert_eq!(shown.json["account"]["name"], "Sandbox Coffee Co.");

    // Connected: the `orders` stream's first run (a backfill) starts by itself.
    let first = wait_for_run(&http, &server, |r| r["trigger"] == "schedule").await;
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(first["imported"], 42, "{first}");
    assert_eq!(first["pages"], 5, "{first}");

    let records = send(admin(
        http.get(server.url("/v1/connections/demo/records?limit=100")),
    ))
    .await;
    let list = records.json["records"].as_array().expect("records");
    assert_eq!(list.len(), 42);
    assert_eq!(list[0]["entity"], "order");
    assert_eq!(list[0]["idempotencyKey"], "sandbox-order-ord_0000");
    assert_eq!(records.json["next"], Value::Null, "{}", records.text);
    // Paged: a full page says where the next one starts.
    let page = send(admin(
        http.get(server.url("/v1/connections/demo/records?limit=40")),
    ))
    .await;
    let next = page.json["next"].as_i64().expect("a next cursor");
    let rest = send(admin(http.get(server.url(&format!(
        "/v1/connections/demo/records?limit=40&after={next}"
    )))))
    .await;
    let rest_list = rest.json["records"].as_array().expect("records");
    assert_eq!(rest_list.len(), 2, "{}", rest.text);
    assert_eq!(rest_list[1]["idempotencyKey"], "sandbox-order-ord_0041");
    assert_eq!(rest.json["next"], Value::Null);

    // The sync route called directly pages through everything and stores nothing new.
    let (_, key) = server.create_api_key("newcomer");
    for _ in 0..2 {
        let sync = send(
            http.post(server.url("/v1/connections/demo/routes/sync/orders"))
                .bearer_auth(&key),
        )
        .await;
        assert_eq!(sync.status, 200, "{}", sync.text);
        assert_eq!(sync.json["imported"], 0, "{}", sync.text);
        assert_eq!(sync.json["duplicates"], 42, "{}", sync.text);
        assert_eq!(sync.json["pages"], 5);
        assert!(sync.headers.contains_key("x-keyway-invocation-id"));
    }

    // An order placed at the shop: the next run asks only for what changed since the
    // last one and imports just that order. (The schedule is paused first so that the run
    // under test is the manual one; a paused stream still runs when asked.)
    let paused = send(admin(
        http.post(server.url("/v1/connections/demo/streams/orders/pause")),
    ))
    .await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    let placed = send(http.post(format!("http://{sandbox_listen}/dev/orders"))).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let started = send(admin(
        http.post(server.url("/v1/connections/demo/streams/orders/run")),
    ))
    .await;
    assert_eq!(started.status, 202, "{}", started.text);
    let run_id = started.json["runId"].as_str().expect("run id").to_string();
    let next = wait_for_run(&http, &server, |r| r["id"] == run_id.as_str()).await;
    assert_eq!(next["status"], "succeeded", "{next}");
    assert_eq!(
        (next["imported"].clone(), next["pages"].clone()),
        (1.into(), 1.into()),
        "{next}"
    );
    assert!(
        next["startCursor"]
            .as_str()
            .unwrap_or("")
            .contains("2026-01-02T17:30:00Z"),
        "{next}"
    );

    // A signed test webhook, verified with the connection's secret, reaches the route.
    let secret = send(with_json(
        admin(http.patch(server.url("/v1/connections/demo"))),
        &serde_json::json!({ "secretSettings": { "webhook_secret": "sandbox-whsec-canary-51c2" } }),
    ))
    .await;
    assert_eq!(secret.status, 200, "{}", secret.text);
    let test = send(admin(
        http.post(server.url("/v1/connections/demo/webhooks/orders/test")),
    ))
    .await;
    assert_eq!(test.status, 202, "{}", test.text);
    let mut events = 0;
    for _ in 0..300 {
        let r = send(admin(http.get(
            server.url("/v1/connections/demo/records?entity=webhook_event"),
        )))
        .await;
        events = r.json["records"].as_array().map_or(0, Vec::len);
        if events == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(events, 1, "{}", server.logs());
    assert!(!server.logs().contains("sandbox-whsec-canary-51c2"));

    let metrics = send(http.get(server.url("/metrics"))).await;
    assert!(
        metrics
            .text
            .contains("keyway_invocations_total{connector=\"sandbox\",route=\"POST /sync/orders\",status=\"200\"} 2"),
        "{}",
        metrics.text
    );

    let revoked = send(admin(http.post(server.url("/v1/connections/demo/revoke")))).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(revoked.json["outcome"], "revoked_at_provider");
    let after = send(
        http.post(server.url("/v1/connections/demo/routes/sync/orders"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(after.status, 401, "{}", after.text);
    assert_eq!(after.json["error"]["code"], "reauth_required");

    // Nothing secret in the logs: sandbox tokens carry a recognisable prefix.
    let logs = server.logs();
    for canary in ["sbx_at_", "sbx_rt_", ADMIN_KEY, key.as_str()] {
        assert!(!logs.contains(canary), "{canary} leaked into the logs");
        assert!(
            !server.stdout().contains(canary),
            "{canary} leaked to stdout"
        );
    }
    assert!(
        logs.contains("request_id"),
        "request ids in the logs:\n{logs}"
    );
}

#[tokio::test]
async fn api_keys_and_the_admin_key_are_enforced() {
    let connectors = Connectors::new();
    connectors.add_misbehave();
    let server = Server::start(connectors.path(), &[]);
    let http = client();
    server.create_connection("m", "misbehave").await;
    let route = server.url("/v1/connections/m/routes/ok");

    let missing = send(http.get(&route)).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json["error"]["code"], "missing_api_key");
    assert_eq!(missing.headers["www-authenticate"], "Bearer");

    let wrong = send(http.get(&route).bearer_auth("kw_0123456789abcdef_nope")).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json["error"]["code"], "invalid_api_key");

    let (id, key) = server.create_api_key("caller");
    let ok = send(http.get(&route).bearer_auth(&key)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // A real key id with a wrong secret: the digest comparison, not the id, decides.
    let mut forged = key.clone();
    let last = if forged.ends_with('A') { 'B' } else { 'A' };
    forged.pop();
    forged.push(last);
    let forged = send(http.get(&route).bearer_auth(&forged)).await;
    assert_eq!(forged.status, 401);
    assert_eq!(forged.json["error"]["code"], "invalid_api_key");
    assert_eq!(ok.text, "ok");

    // The admin key is not an API key, and an API key is not the admin key.
    let admin_as_api = send(http.get(&route).bearer_auth(ADMIN_KEY)).await;
    assert_eq!(admin_as_api.status, 401);
    let api_as_admin = send(http.get(server.url("/v1/connections")).bearer_auth(&key)).await;
    assert_eq!(api_as_admin.status, 401);
    assert_eq!(api_as_admin.json["error"]["code"], "unauthorized");

    // Internal routes are for the host only.
    let internal = send(
        http.get(server.url("/v1/connections/m/routes/bad-status"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(internal.status, 403, "{}", internal.text);
    assert_eq!(internal.json["error"]["code"], "internal_route");

    let out = server.cli(&["api-keys", "revoke", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Another process revoked it: the server sees that within its change check.
    let revoked = until(
        || send(http.get(&route).bearer_auth(&key)),
        |a| a.status == 401,
    )
    .await;
    assert_eq!(revoked.status, 401, "{}", revoked.text);
    assert_eq!(revoked.json["error"]["code"], "invalid_api_key");

    let listed = server.cli(&["api-keys", "list", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("JSON list");
    assert!(listed[0]["revokedAt"].is_i64());
    assert!(!String::from_utf8_lossy(&server.cli(&["api-keys", "list"]).stdout).contains(&key));
    assert!(!server.logs().contains(&key));
}

#[tokio::test]
async fn a_looping_guest_ends_on_its_deadline_and_a_memory_bomb_on_its_cap() {
    let connectors = Connectors::new();
    connectors.add_misbehave();
    let server = Server::start(
        connectors.path(),
        &["--deadline-seconds", "1", "--memory-mib", "16"],
    );
    let http = client();
    server.create_connection("m", "misbehave").await;
    let (_, key) = server.create_api_key("t");

    let looped = send(
        http.post(server.url("/v1/connections/m/routes/loop"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(looped.status, 504, "{}", looped.text);
    assert_eq!(looped.json["error"]["code"], "deadline_exceeded");
    let id = looped.json["error"]["invocationId"]
        .as_str()
        .expect("invocation id");
    assert!(!id.is_empty());

    let bomb = send(
        http.post(server.url("/v1/connections/m/routes/alloc"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(bomb.status, 500, "{}", bomb.text);
    assert_eq!(bomb.json["error"]["code"], "memory_exceeded");
    assert!(bomb.json["error"]["invocationId"].is_string());

    // Everyone else is still served.
    let ok = send(
        http.get(server.url("/v1/connections/m/routes/ok"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(ok.status, 200);
    let history = send(admin(http.get(server.url("/v1/connections/m/invocations")))).await;
    let codes: Vec<&str> = history.json["invocations"]
        .as_array()
        .expect("invocations")
        .iter()
        .filter_map(|i| i["errorCode"].as_str())
        .collect();
    assert!(codes.contains(&"deadline_exceeded"), "{}", history.text);
    assert!(codes.contains(&"memory_exceeded"), "{}", history.text);

    // The same history a page at a time: each full page's `next` leads to the rest,
    // and the pages together are the whole list.
    let whole = history.json["invocations"].as_array().expect("list").len();
    let mut ids = Vec::new();
    let mut url = server.url("/v1/connections/m/invocations?limit=1");
    loop {
        let page = send(admin(http.get(&url))).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let items = page.json["invocations"].as_array().expect("list");
        assert!(items.len() <= 1, "limit=1 answered {}", items.len());
        for i in items {
            ids.push(i["id"].as_str().expect("id").to_string());
        }
        match page.json["next"].as_str() {
            Some(next) => {
                url = server.url(&format!(
                    "/v1/connections/m/invocations?limit=1&before={next}"
                ))
            }
            None => break,
        }
    }
    assert_eq!(ids.len(), whole, "{ids:?}");
    assert!(whole > 1, "more than one page was read: {ids:?}");
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no row twice: {ids:?}");
    let bad = send(admin(
        http.get(server.url("/v1/connections/m/invocations?before=yesterday")),
    ))
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("before"), "{}", bad.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_calls_with_a_cap_of_eight_are_all_answered() {
    let connectors = Connectors::new();
    connectors.add_misbehave();
    // One key makes every call here; its share is the whole cap, so the cap is what is tested.
    let server = Server::start(
        connectors.path(),
        &["--max-concurrent", "8", "--max-concurrent-per-key", "8"],
    );
    let http = client();
    server.create_connection("m", "misbehave").await;
    let (_, key) = server.create_api_key("load");
    // Each call does enough work that the first eight still run when the rest arrive.
    let url = server.url("/v1/connections/m/routes/work?iterations=300000000");
    let one = send(http.post(&url).bearer_auth(&key)).await;
    assert_eq!(one.status, 200, "{}", one.text);
    let calls = (0..200).map(|_| {
        let req = http.post(&url).bearer_auth(&key);
        tokio::spawn(async move { send(req).await })
    });
    // A guard against a hang, not a speed target.
    let answers = tokio::time::timeout(Duration::from_secs(600), futures_join_all(calls.collect()))
        .await
        .expect("every call answered");
    let mut ok = 0;
    let mut busy = 0;
    for a in answers {
        match a.status {
            200 => ok += 1,
            503 => {
                busy += 1;
                assert_eq!(a.json["error"]["code"], "overloaded");
                assert_eq!(a.headers["retry-after"], "1");
            }
            other => panic!("unexpected status {other}: {}", a.text),
        }
    }
    assert_eq!(ok + busy, 200);
    assert!(ok >= 8, "at least the first eight ran: {ok}");
    assert!(busy > 0, "some calls found the server full");
    let metrics = send(http.get(server.url("/metrics"))).await;
    assert!(
        metrics.text.contains(&format!(
            "keyway_denials_total{{reason=\"overloaded\"}} {busy}"
        )),
        "{}",
        metrics.text
    );
}

async fn futures_join_all(handles: Vec<tokio::task::JoinHandle<Answer>>) -> Vec<Answer> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_invocation_in_flight() {
    let connectors = Connectors::new();
    connectors.add_misbehave();
    let mut server = Server::start(connectors.path(), &["--shutdown-grace-seconds", "120"]);
    let http = client();
    server.create_connection("m", "misbehave").await;
    let (_, key) = server.create_api_key("t");
    let slow = http
        .post(server.url("/v1/connections/m/routes/work?iterations=1500000000"))
        .bearer_auth(&key);
    let in_flight = tokio::spawn(async move { send(slow).await });
    // Wait until the invocation is running.
    loop {
        let m = send(http.get(server.url("/metrics"))).await;
        if m.text.contains("keyway_invocations_in_flight 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.terminate();
    let answer = in_flight.await.expect("task");
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.text, "worked 1500000000");
    let status = tokio::task::block_in_place(|| server.wait_exit(Duration::from_secs(120)));
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        server.logs()
    );
    assert!(
        server.logs().contains("shut down cleanly"),
        "{}",
        server.logs()
    );
    // No new connections after shutdown.
    assert!(http.get(server.url("/healthz")).send().await.is_err());
}

#[tokio::test]
async fn open_endpoints_errors_and_a_skipped_connector() {
    let connectors = Connectors::new();
    connectors.add_misbehave();
    let broken = connectors.path().join("broken");
    std::fs::create_dir_all(&broken).expect("dir");
    std::fs::write(broken.join("connector.json"), "{ \"key\": 3 }").expect("manifest");
    let server = Server::start(connectors.path(), &["--max-body-bytes", "64"]);
    let http = client();

    let health = send(http.get(server.url("/healthz"))).await;
    assert_eq!(health.status, 200);
    assert!(health.headers.contains_key("x-request-id"));
    let given = send(
        http.get(server.url("/healthz"))
            .header("x-request-id", "req-abc"),
    )
    .await;
    assert_eq!(given.headers["x-request-id"], "req-abc");

    let ready = send(http.get(server.url("/readyz"))).await;
    assert_eq!(ready.json["connectors"], 1, "{}", ready.text);
    assert_eq!(ready.json["skipped"], 1);
    assert!(
        server.stdout().contains("skipped connector"),
        "{}",
        server.stdout()
    );

    let listed = send(admin(http.get(server.url("/v1/connectors")))).await;
    assert_eq!(listed.json["connectors"][0]["key"], "misbehave");
    assert!(listed.json["skipped"][0]["error"].is_string());

    let unknown = send(http.get(server.url("/nope"))).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json["error"]["code"], "not_found");

    let no_admin = send(http.get(server.url("/v1/connections"))).await;
    assert_eq!(no_admin.status, 401);

    let bad_json = send(
        admin(http.post(server.url("/v1/connections")))
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(bad_json.status, 400, "{}", bad_json.text);
    assert_eq!(bad_json.json["error"]["code"], "invalid_body");

    let bad_connector = send(with_json(
        admin(http.post(server.url("/v1/connections"))),
        &json!({ "name": "x", "connector": "nope" }),
    ))
    .await;
    assert_eq!(bad_connector.status, 400);
    assert!(
        bad_connector.json["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("no loaded connector `nope`")
    );

    server.create_connection("m", "misbehave").await;
    let dup = send(with_json(
        admin(http.post(server.url("/v1/connections"))),
        &json!({ "name": "m", "connector": "misbehave" }),
    ))
    .await;
    assert_eq!(dup.status, 409, "{}", dup.text);

    let (_, key) = server.create_api_key("t");
    let big = send(
        http.post(server.url("/v1/connections/m/routes/work"))
            .bearer_auth(&key)
            .body(vec![b'x'; 1000]),
    )
    .await;
    assert_eq!(big.status, 413, "{}", big.text);
    assert_eq!(big.json["error"]["code"], "body_too_large");

    let no_route = send(
        http.get(server.url("/v1/connections/m/routes/missing"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(no_route.status, 404);
    assert_eq!(no_route.json["error"]["code"], "route_not_found");

    let no_conn = send(
        http.get(server.url("/v1/connections/ghost/routes/ok"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(no_conn.status, 404);

    // A secret setting of the wrong type is refused by name, its value not echoed.
    let typed = send(with_json(
        admin(http.post(server.url("/v1/connections"))),
        &json!({ "name": "y", "connector": "misbehave", "secretSettings": { "token": 987654321 } }),
    ))
    .await;
    assert_eq!(typed.status, 400, "{}", typed.text);
    assert!(
        typed.text.contains("secretSettings.token"),
        "{}",
        typed.text
    );
    assert!(!typed.text.contains("987654321"), "{}", typed.text);

    // Client secrets go in the body and never come back or reach the logs.
    let canary = "canary-client-secret-5c1f";
    let creds = send(with_json(
        admin(http.put(server.url("/v1/credentials/acme"))),
        &json!({ "clientId": "acme-app", "clientSecret": canary }),
    ))
    .await;
    assert_eq!(creds.status, 200, "{}", creds.text);
    assert_eq!(creds.json["hasSecret"], true);
    assert!(!creds.text.contains(canary));
    assert!(!server.logs().contains(canary));
}
