//! Webhooks end to end: deliveries signed as providers sign them are verified over the
//! raw body with the connection's secret, refused when the signature is bad, the secret
//! wrong or the timestamp stale, acknowledged once and replays known; the worker hands
//! each to the compiled `pager` component's route (which never sees the signature or the
//! secret), retries a failing one with backoff (driven in virtual time) and dead-letters
//! it; `keyway serve` answers 202 while a slow route is still running.

use std::sync::Arc;
use std::time::Duration;

use keyway_host::services::{DeliveryOptions, DeliveryWorker, Receipt, ServiceError, Services};
use keyway_host::store::{DeliveryQuery, DeliveryStatus, now_unix};
use keyway_host::webhooks::{self, Encoding, Rule, Scheme};
use keyway_tests::pages::{PagesApi, create_pager_connection, pager_manifest_with, pager_services};
use keyway_tests::server::{ADMIN_KEY, Connectors, Server};
use keyway_tests::{backend, components};
use serde_json::{Value, json};

const SECRET: &str = "whsec-canary-7d1f3a9c0b2e";

const HOOKS: &str = r#"[
    { "key": "items", "route": "/webhooks/items", "verify": { "scheme": "stripe", "secret": "webhook_secret" } },
    { "key": "generic", "route": "/webhooks/items", "verify": { "scheme": "hmac-sha256", "encoding": "base64", "secret": "webhook_secret" } }
]"#;

fn stripe() -> Rule {
    Rule {
        scheme: Scheme::Stripe,
        header: None,
        encoding: Encoding::Hex,
        tolerance_seconds: 300,
    }
}

fn generic() -> Rule {
    Rule {
        scheme: Scheme::HmacSha256,
        header: None,
        encoding: Encoding::Base64,
        tolerance_seconds: 300,
    }
}

struct Fixture {
    _data: tempfile::TempDir,
    _connectors: Connectors,
    services: Arc<Services>,
    data_dir: std::path::PathBuf,
}

async fn fixture(api: &PagesApi) -> Fixture {
    let connectors = Connectors::new();
    connectors.add(
        "pager",
        &pager_manifest_with(&api.base(), "[]", HOOKS),
        components::PAGER,
    );
    let data = tempfile::tempdir().expect("tempdir");
    let services = pager_services(data.path(), connectors.path());
    create_pager_connection(&services, "shop", api, &[("webhook_secret", SECRET)])
        .expect("create connection");
    Fixture {
        data_dir: data.path().to_path_buf(),
        _data: data,
        _connectors: connectors,
        services,
    }
}

fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn signed(
    rule: &Rule,
    secret: &str,
    body: &Value,
    at: i64,
    id: &str,
) -> (Vec<(String, String)>, Vec<u8>) {
    let bytes = body.to_string().into_bytes();
    let mut headers = webhooks::sign(rule, secret.as_bytes(), &bytes, at, id);
    headers.push(("content-type".into(), "application/json".into()));
    headers.push(("x-provider-topic".into(), "items/create".into()));
    headers.push(("authorization".into(), "Bearer not-for-the-route".into()));
    (headers, bytes)
}

fn refusal(result: Result<Receipt, ServiceError>) -> (String, String) {
    match result {
        Err(e) => (e.code().to_string(), e.to_string()),
        Ok(r) => panic!("accepted: {r:?}"),
    }
}

fn stored_item(data_dir: &std::path::Path, key: &str) -> Option<Value> {
    let sql = format!(
        "SELECT payload FROM records WHERE idempotency_key = {}",
        backend::literal(key)
    );
    let rows = backend::query(data_dir, &sql);
    rows.first()
        .map(|r| serde_json::from_str(&r[0]).expect("payload"))
}

async fn drain(worker: &Arc<DeliveryWorker>, now_ms: i64) -> usize {
    let tasks = worker.tick(now_ms).await.expect("a worker pass");
    let n = tasks.len();
    for t in tasks {
        t.await.expect("attempt");
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_verified_acknowledged_once_and_handed_to_the_route_without_the_secret() {
    let api = PagesApi::start(2).await;
    let f = fixture(&api).await;
    let s = &f.services;
    let now = now_unix();
    let body = json!({ "id": "evt_1", "items": [{ "id": "w-1" }, { "id": "w-2" }] });

    // A bad signature, a wrong secret, a stale or future timestamp: refused, and each
    // message says which without the secret or the signature.
    let (mut headers, bytes) = signed(&stripe(), SECRET, &body, now, "evt_1");
    let mut tampered = bytes.clone();
    tampered[5] ^= 1;
    let (code, message) = refusal(
        s.receive_webhook("shop", "items", &headers, &tampered, now)
            .await,
    );
    assert_eq!(code, "bad_signature", "{message}");
    let (wrong, _) = signed(&stripe(), "another-secret", &body, now, "evt_1");
    let (code, _) = refusal(
        s.receive_webhook("shop", "items", &wrong, &bytes, now)
            .await,
    );
    assert_eq!(code, "bad_signature");
    let (stale, stale_bytes) = signed(&stripe(), SECRET, &body, now - 1000, "evt_1");
    let (code, message) = refusal(
        s.receive_webhook("shop", "items", &stale, &stale_bytes, now)
            .await,
    );
    assert_eq!(code, "stale_delivery");
    assert!(
        message.contains("1000 s old") && message.contains("300 s"),
        "{message}"
    );
    let (future, future_bytes) = signed(&stripe(), SECRET, &body, now + 1000, "evt_1");
    let (code, _) = refusal(
        s.receive_webhook("shop", "items", &future, &future_bytes, now)
            .await,
    );
    assert_eq!(code, "stale_delivery");
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("stripe-signature"));
    let (code, message) = refusal(
        s.receive_webhook("shop", "items", &headers, &bytes, now)
            .await,
    );
    assert_eq!(code, "bad_signature");
    assert!(message.contains("Stripe-Signature"), "{message}");
    assert!(!message.contains(SECRET), "{message}");
    let unknown = s
        .receive_webhook("shop", "orders", &headers, &bytes, now)
        .await;
    assert!(
        matches!(&unknown, Err(e) if e.to_string().contains("has no webhook `orders`; it has items, generic")),
        "{unknown:?}"
    );

    // Signed right: queued once; the same delivery again is a known replay.
    let (headers, bytes) = signed(&stripe(), SECRET, &body, now, "evt_1");
    let first = s
        .receive_webhook("shop", "items", &headers, &bytes, now)
        .await
        .expect("accepted");
    let Receipt::Queued { id, delivery_id } = first else {
        panic!("not queued: {first:?}");
    };
    assert_eq!(delivery_id, "evt_1");
    let again = s
        .receive_webhook("shop", "items", &headers, &bytes, now)
        .await
        .expect("answered");
    assert!(
        matches!(&again, Receipt::Duplicate { id: earlier, .. } if *earlier == id),
        "{again:?}"
    );
    // Another scheme on the same route: its own delivery ids.
    let other = json!({ "items": [{ "id": "w-3" }] });
    let (gh, gb) = signed(&generic(), SECRET, &other, now, "gen-1");
    assert!(matches!(
        s.receive_webhook("shop", "generic", &gh, &gb, now).await,
        Ok(Receipt::Queued { .. })
    ));

    // The worker hands both to the route; the route saw neither signature nor credential.
    let worker = DeliveryWorker::new(s.clone(), DeliveryOptions::default(), None).expect("worker");
    assert_eq!(drain(&worker, now_unix_ms()).await, 2);
    assert_eq!(drain(&worker, now_unix_ms()).await, 0);
    for key in ["item-\"w-1\"", "item-\"w-2\"", "item-\"w-3\""] {
        assert!(stored_item(&f.data_dir, key).is_some(), "{key} not stored");
    }
    let hook =
        stored_item(&f.data_dir, "item-\"hook-evt_1\"").expect("the route's view of the delivery");
    let seen: Vec<&str> = hook["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for wanted in [
        "content-type",
        "x-provider-topic",
        "x-keyway-webhook",
        "x-keyway-delivery",
        "x-keyway-attempt",
    ] {
        assert!(seen.contains(&wanted), "{wanted} missing from {seen:?}");
    }
    for hidden in ["stripe-signature", "authorization", "x-signature"] {
        assert!(
            !seen.contains(&hidden),
            "{hidden} reached the route: {seen:?}"
        );
    }
    let stored = backend::stored_bytes(&f.data_dir);
    assert!(
        !stored.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "the webhook secret is in the database in the clear"
    );
    let delivered = s
        .deliveries(&DeliveryQuery {
            connection: Some("shop".into()),
            status: Some(DeliveryStatus::Delivered),
            limit: 10,
            ..Default::default()
        })
        .expect("deliveries")
        .items;
    assert_eq!(delivered.len(), 2);
    assert!(
        delivered
            .iter()
            .all(|d| d.attempts == 1 && d.invocation_id.is_some())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_route_is_retried_with_backoff_then_dead_lettered_and_can_be_retried() {
    let api = PagesApi::start(2).await;
    let f = fixture(&api).await;
    let s = &f.services;
    let now = now_unix();
    let (headers, bytes) = signed(
        &stripe(),
        SECRET,
        &json!({ "id": "evt_fail", "fail": true }),
        now,
        "x",
    );
    let Receipt::Queued { id, .. } = s
        .receive_webhook("shop", "items", &headers, &bytes, now)
        .await
        .expect("accepted")
    else {
        panic!("not queued");
    };
    let options = DeliveryOptions::default();
    let worker = DeliveryWorker::new(s.clone(), options, None).expect("worker");
    let row = |s: &Services| {
        s.deliveries(&DeliveryQuery {
            connection: Some("shop".into()),
            limit: 1,
            ..Default::default()
        })
        .expect("deliveries")
        .items
        .remove(0)
    };
    let mut clock = now_unix_ms() + 1;
    let mut delays = Vec::new();
    for attempt in 1..=options.backoff.max_attempts + 1 {
        assert_eq!(drain(&worker, clock).await, 1, "attempt {attempt}");
        let d = row(s);
        assert_eq!(d.attempts, attempt);
        assert!(
            d.last_error.as_deref().unwrap_or("").contains("500"),
            "{:?}",
            d.last_error
        );
        match d.next_attempt_at_ms {
            Some(next) => {
                assert_eq!(d.status, "queued");
                // Not before it is due.
                assert_eq!(drain(&worker, next - 1).await, 0);
                delays.push((next - clock) / 1000);
                clock = next;
            }
            None => assert_eq!(d.status, "dead"),
        }
    }
    assert_eq!(row(s).status, "dead");
    assert_eq!(delays.len() as u32, options.backoff.max_attempts);
    // Exponential with jitter: each delay within [half, whole] of base * 2^(n-1).
    for (n, delay) in delays.iter().enumerate() {
        let full = (options.backoff.base_seconds << n).min(options.backoff.cap_seconds) as i64;
        assert!(
            (full / 2..=full).contains(delay),
            "retry {n}: {delay} s outside {}..={full}",
            full / 2
        );
    }
    // A dead delivery is kept, and an operator can queue it again.
    let retried = s.retry_delivery(&id).expect("retry");
    assert_eq!(retried.status, "queued");
    assert_eq!(drain(&worker, now_unix_ms()).await, 1);
    assert_eq!(row(s).attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyway_serve_acknowledges_at_once_while_a_slow_route_runs() {
    let api = PagesApi::start(5).await;
    let connectors = Connectors::new();
    connectors.add(
        "pager",
        &pager_manifest_with(&api.base(), "[]", HOOKS),
        components::PAGER,
    );
    let server = Server::start(
        connectors.path(),
        &["--allow-private-network", "127.0.0.1/32"],
    );
    let http = reqwest::Client::new();
    let send = |path: &str,
                body: Option<Value>,
                headers: Vec<(String, String)>,
                raw: Option<Vec<u8>>,
                admin: bool| {
        let mut req = http.post(server.url(path));
        if admin {
            req = req.bearer_auth(ADMIN_KEY);
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        if let Some(b) = raw {
            req = req.body(b);
        }
        async move {
            // Through the suite's `send`, so the canary sweep sees every answer.
            let a = keyway_tests::server::send(req).await;
            let body = serde_json::from_str::<Value>(&a.text).unwrap_or(Value::String(a.text));
            (a.status, body)
        }
    };
    let (status, body) = send(
        "/v1/connections",
        Some(json!({
            "name": "shop", "connector": "pager",
            "settings": { "baseUrl": api.base() },
            "secretSettings": { "webhook_secret": SECRET }
        })),
        Vec::new(),
        None,
        true,
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // The route fetches page 3, which hangs: the provider still gets its 202 at once.
    api.hang_at(3);
    let now = now_unix();
    let (headers, bytes) = signed(
        &stripe(),
        SECRET,
        &json!({ "id": "evt_slow", "page": 3 }),
        now,
        "",
    );
    let (status, body) = send(
        "/v1/webhooks/shop/items",
        None,
        headers.clone(),
        Some(bytes.clone()),
        false,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["deliveryId"], "evt_slow");
    tokio::time::timeout(Duration::from_secs(120), api.hung())
        .await
        .expect("the route ran after the answer");
    // A replay while the first is still being handled: known, not queued again.
    let (status, body) = send("/v1/webhooks/shop/items", None, headers, Some(bytes), false).await;
    assert_eq!(
        (status, body["duplicate"].clone()),
        (200, Value::Bool(true)),
        "{body}"
    );
    api.release();

    // A bad signature is refused with a clear error; the secret is not in it.
    let (mut bad, bytes) = signed(
        &stripe(),
        "not-the-secret",
        &json!({ "id": "evt_bad" }),
        now,
        "",
    );
    bad.push(("x-extra".into(), "1".into()));
    let (status, body) = send("/v1/webhooks/shop/items", None, bad, Some(bytes), false).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "bad_signature", "{body}");
    assert!(!body.to_string().contains(SECRET));

    // The operator's signed test delivery goes the same way.
    let (status, body) = send(
        "/v1/connections/shop/webhooks/items/test",
        None,
        Vec::new(),
        None,
        true,
    )
    .await;
    assert_eq!(status, 202, "{body}");

    let mut delivered = 0;
    for _ in 0..600 {
        let res = http
            .get(server.url("/v1/webhook-deliveries?connection=shop&status=delivered"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .expect("deliveries");
        let v: Value = serde_json::from_str(&res.text().await.expect("text")).expect("json");
        delivered = v["deliveries"].as_array().map_or(0, Vec::len);
        if delivered == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivered, 2, "{}", server.logs());
    // The attempt is counted just after its row is written: wait for the count too.
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = http
            .get(server.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if metrics.contains(r#"keyway_webhook_attempts_total{outcome="delivered"} 2"#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for line in [
        r#"keyway_webhook_deliveries_total{outcome="accepted"} 2"#,
        r#"keyway_webhook_deliveries_total{outcome="duplicate"} 1"#,
        r#"keyway_webhook_deliveries_total{outcome="refused"} 1"#,
        r#"keyway_webhook_attempts_total{outcome="delivered"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    assert!(!server.logs().contains(SECRET));
}
