//! `keyway serve` against hostile routes and hostile callers, over real HTTP: a route's
//! answer cannot change the framing of the response (a lying `content-length` does not
//! smuggle a second response onto a kept-alive connection), set cookies or redirect;
//! slow uploads, slow header blocks and idle connections hold no invocation slot and are
//! closed; one API key cannot take every slot; admin parse errors quote no value; a
//! caller's request id is kept only when short and plain.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use keyway_tests::components;
use keyway_tests::server::{ADMIN_KEY, Connectors, Server, client, send};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HOSTILE_MANIFEST: &str = r#"{
    "key": "hostile", "name": "Hostile", "provider": "none", "kind": "source",
    "version": "0.1.0", "permissions": { "http": [] }, "connection": {}
}"#;

/// A bound on hanging, not a speed target.
const GUARD: Duration = Duration::from_secs(120);

fn admin_json(req: reqwest::RequestBuilder, body: &Value) -> reqwest::RequestBuilder {
    req.bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
}

/// A server whose `[limits]` are `limits` (TOML lines), with its config file.
fn start_with_limits(connectors: &Connectors, limits: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keyway.toml");
    std::fs::write(&path, format!("[limits]\n{limits}\n")).expect("config");
    let config = path.display().to_string();
    (
        Server::start(connectors.path(), &["--config", &config]),
        dir,
    )
}

fn host_port(server: &Server) -> String {
    server
        .base
        .strip_prefix("http://")
        .unwrap_or(&server.base)
        .trim_end_matches('/')
        .to_string()
}

/// What `POST /answer` of the hostile component should answer.
fn spec(status: u16, headers: &[(&str, &str)], body: &str) -> String {
    let headers: Vec<Value> = headers.iter().map(|(k, v)| json!([k, v])).collect();
    json!({ "status": status, "headers": headers, "body": body }).to_string()
}

#[tokio::test]
async fn a_route_answer_cannot_change_the_framing_or_speak_for_the_origin() {
    let connectors = Connectors::new();
    connectors.add("hostile", HOSTILE_MANIFEST, components::HOSTILE);
    let server = Server::start(connectors.path(), &[]);
    server.create_connection("h", "hostile").await;
    let (_, key) = server.create_api_key("t");
    let answer_path = "/v1/connections/h/routes/answer";

    // Two requests on one kept-alive connection. The first route answer declares a
    // content-length of 1 for a body that holds a whole second response; then a 204 with
    // a body. The next answer on the connection must be the host's own /healthz.
    let smuggled =
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\nsmuggled";
    let lying = format!("X{smuggled}");
    let stream = TcpStream::connect(host_port(&server))
        .await
        .expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(connection);
    let raw = |method: &str, path: &str, body: String| {
        hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", host_port(&server))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("request")
    };
    let mut answers = Vec::new();
    for req in [
        raw(
            "POST",
            answer_path,
            spec(200, &[("content-length", "1")], &lying),
        ),
        raw(
            "POST",
            answer_path,
            spec(204, &[("content-length", "5")], "extra"),
        ),
        raw("GET", "/healthz", String::new()),
    ] {
        sender.ready().await.expect("connection still usable");
        let res = tokio::time::timeout(GUARD, sender.send_request(req))
            .await
            .expect("an answer")
            .expect("a well-framed answer");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        answers.push((status, headers, body));
    }
    assert_eq!(answers[0].0, 200);
    assert_eq!(
        answers[0].2,
        lying.as_bytes(),
        "the host framed the whole body"
    );
    assert_eq!(answers[1].0, 204);
    assert!(answers[1].2.is_empty());
    let (status, headers, body) = &answers[2];
    assert_eq!(*status, 200);
    assert_eq!(
        body.as_ref(),
        br#"{"status":"ok"}"#,
        "the host's own answer"
    );
    assert!(headers.contains_key("x-request-id"));

    let http = client();
    let call = |body: String| {
        http.post(server.url(answer_path))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
    };

    // A transfer-encoding the guest chose does not kill the reply.
    let chunked = send(call(spec(
        200,
        &[("transfer-encoding", "chunked")],
        "hello",
    )))
    .await;
    assert_eq!(chunked.status, 200);
    assert_eq!(chunked.text, "hello");

    // Cookies, redirects, hop-by-hop and the host's own headers are not the route's.
    let cookie = "session=canary-cookie-3b9";
    let headers = send(call(spec(
        302,
        &[
            ("set-cookie", cookie),
            ("location", "https://evil.example/"),
            ("connection", "close"),
            ("keep-alive", "timeout=1"),
            ("upgrade", "h2c"),
            ("x-accel-redirect", "/internal/admin.key"),
            ("x-keyway-invocation-id", "forged"),
            ("x-request-id", "forged-id"),
            ("x-custom", "kept"),
            ("cache-control", "no-store"),
            ("content-type", "application/json"),
        ],
        "{}",
    )))
    .await;
    assert_eq!(headers.status, 302);
    for gone in [
        "set-cookie",
        "location",
        "connection",
        "keep-alive",
        "upgrade",
        "x-accel-redirect",
    ] {
        assert!(!headers.headers.contains_key(gone), "{gone} was sent");
    }
    assert_ne!(headers.headers["x-keyway-invocation-id"], "forged");
    assert_ne!(headers.headers["x-request-id"], "forged-id");
    assert_eq!(headers.headers["x-custom"], "kept");
    assert_eq!(headers.headers["cache-control"], "no-store");
    assert_eq!(headers.headers["x-content-type-options"], "nosniff");
    assert!(!headers.headers.contains_key("content-security-policy"));

    // HTML, declared or not, is sandboxed.
    let html = send(call(spec(
        200,
        &[("content-type", "Text/HTML; charset=utf-8")],
        "<h1>hi</h1>",
    )))
    .await;
    assert_eq!(html.headers["content-security-policy"], "sandbox");
    assert_eq!(html.headers["x-content-type-options"], "nosniff");
    let undeclared = send(call(spec(200, &[], "<script>alert(1)</script>"))).await;
    assert_eq!(undeclared.headers["content-security-policy"], "sandbox");

    // A status that is not a final one is the host's 502.
    for status in [100, 101] {
        let a = send(call(spec(status, &[("upgrade", "websocket")], ""))).await;
        assert_eq!(a.status, 502, "{}", a.text);
        assert_eq!(a.json["error"]["code"], "malformed_response", "{}", a.text);
        assert!(a.json["error"]["invocationId"].is_string(), "{}", a.text);
    }

    let metrics = send(http.get(server.url("/metrics"))).await;
    for reason in [
        "framing",
        "cookie",
        "redirect",
        "hop_by_hop",
        "reserved",
        "proxy_control",
    ] {
        assert!(
            metrics.text.contains(&format!(
                "keyway_route_headers_dropped_total{{connector=\"hostile\",reason=\"{reason}\"}}"
            )),
            "{reason}: {}",
            metrics.text
        );
    }
    let logs = server.logs();
    assert!(logs.contains("content-length"), "{logs}");
    assert!(logs.contains("set-cookie"), "{logs}");
    for value in ["canary-cookie-3b9", "evil.example", "forged-id"] {
        assert!(!logs.contains(value), "{value} reached the logs");
    }
}

/// Opens a connection, writes `head`, then one byte of `drip` every 250 ms until the
/// server closes the connection; returns what the server sent before it did.
async fn trickle(addr: String, head: String, drip: &'static [u8]) -> Vec<u8> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        if write.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for byte in drip.iter().cycle().take(4800) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let ended = tokio::time::timeout(GUARD, async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    writer.abort();
    assert!(ended.is_ok(), "the server kept a slow connection open");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_callers_hold_no_slot_and_are_closed() {
    let connectors = Connectors::new();
    connectors.add_misbehave();
    let (server, _config) = start_with_limits(
        &connectors,
        "max_concurrent_invocations = 4\nmax_concurrent_per_key = 4\n\
         header_read_timeout_seconds = 5\nbody_read_timeout_seconds = 5\nidle_timeout_seconds = 5",
    );
    server.create_connection("m", "misbehave").await;
    let (_, key) = server.create_api_key("t");
    let addr = host_port(&server);

    // As many trickling uploads as there are slots, a header block that never ends, and a
    // connection that sends nothing.
    let upload = format!(
        "POST /v1/connections/m/routes/work HTTP/1.1\r\nhost: {addr}\r\n\
         authorization: Bearer {key}\r\ncontent-length: 100000\r\n\r\nxx"
    );
    let mut uploads = Vec::new();
    for _ in 0..4 {
        uploads.push(tokio::spawn(trickle(addr.clone(), upload.clone(), b"x")));
    }
    let header_block = format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\nx-slow: ");
    let slow_head = tokio::spawn(trickle(addr.clone(), header_block, b"abc"));
    let idle = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut got = Vec::new();
        let ended = tokio::time::timeout(GUARD, stream.read_to_end(&mut got)).await;
        assert!(ended.is_ok(), "the server kept an idle connection open");
        got
    });
    // Let the server take in the upload heads before the next call.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let http = client();
    let ok = send(
        http.get(server.url("/v1/connections/m/routes/ok"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.text, "ok");

    for upload in uploads {
        let got = String::from_utf8_lossy(&upload.await.expect("task")).into_owned();
        // The answer can be lost to the reset that closing on unread bytes causes; when
        // it arrives it is the body timeout.
        if !got.is_empty() {
            assert!(got.starts_with("HTTP/1.1 408"), "{got}");
            assert!(got.contains("body_timeout"), "{got}");
        }
    }
    let got = slow_head.await.expect("task");
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "a head that never ended was answered"
    );
    assert!(idle.await.expect("task").is_empty());

    // A kept-alive connection is closed once idle too.
    let mut stream = TcpStream::connect(host_port(&server))
        .await
        .expect("connect");
    let head = format!(
        "GET /healthz HTTP/1.1\r\nhost: {}\r\n\r\n",
        host_port(&server)
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    let ended = tokio::time::timeout(GUARD, stream.read_to_end(&mut got)).await;
    assert!(
        ended.is_ok(),
        "the server kept an idle kept-alive connection open"
    );
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");

    let metrics = send(http.get(server.url("/metrics"))).await;
    assert!(
        !metrics.text.contains("reason=\"overloaded\""),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("keyway_denials_total{reason=\"body_timeout\"}"),
        "{}",
        metrics.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_api_key_at_its_share_is_refused_while_another_is_served() {
    let connectors = Connectors::new();
    connectors.add_misbehave();
    let (server, _config) = start_with_limits(
        &connectors,
        "max_concurrent_invocations = 4\nmax_concurrent_per_key = 2\ndeadline_seconds = 120",
    );
    server.create_connection("m", "misbehave").await;
    let (_, greedy) = server.create_api_key("greedy");
    let (_, other) = server.create_api_key("other");
    let http = client();

    // Two guests that spin until their deadline hold the greedy key's share.
    let spinning: Vec<_> = (0..2)
        .map(|_| {
            let req = http
                .post(server.url("/v1/connections/m/routes/loop"))
                .bearer_auth(&greedy);
            tokio::spawn(async move { req.send().await })
        })
        .collect();
    tokio::time::timeout(GUARD, async {
        loop {
            let m = send(http.get(server.url("/metrics"))).await;
            if m.text.contains("keyway_invocations_in_flight 2") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("both spinning invocations running");

    let refused = send(
        http.get(server.url("/v1/connections/m/routes/ok"))
            .bearer_auth(&greedy),
    )
    .await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_eq!(refused.json["error"]["code"], "key_share_exceeded");
    assert_eq!(refused.headers["retry-after"], "1");

    let served = send(
        http.get(server.url("/v1/connections/m/routes/ok"))
            .bearer_auth(&other),
    )
    .await;
    assert_eq!(served.status, 200, "{}", served.text);

    let metrics = send(http.get(server.url("/metrics"))).await;
    assert!(
        metrics
            .text
            .contains("keyway_denials_total{reason=\"key_share_exceeded\"} 1"),
        "{}",
        metrics.text
    );
    for task in spinning {
        task.abort();
    }
}

#[tokio::test]
async fn admin_parse_errors_name_the_field_never_the_value() {
    let connectors = Connectors::new();
    connectors.add_misbehave();
    let server = Server::start(connectors.path(), &[]);
    let http = client();
    let canary = "canary-secret-setting-41d7";

    let wrong_type = send(admin_json(
        http.post(server.url("/v1/connections")),
        &json!({ "name": "y", "connector": "misbehave", "secretSettings": canary }),
    ))
    .await;
    assert_eq!(wrong_type.status, 400, "{}", wrong_type.text);
    assert_eq!(wrong_type.json["error"]["code"], "invalid_body");
    let message = wrong_type.json["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("secretSettings"), "{message}");
    assert!(message.contains("wrong type"), "{message}");
    assert!(message.contains("column"), "{message}");
    assert!(!wrong_type.text.contains(canary), "{}", wrong_type.text);

    let name = send(admin_json(
        http.post(server.url("/v1/connections")),
        &json!({ "name": ["canary-name-9c2"], "connector": "misbehave" }),
    ))
    .await;
    assert_eq!(name.status, 400, "{}", name.text);
    assert!(!name.text.contains("canary-name-9c2"), "{}", name.text);

    server.create_connection("m", "misbehave").await;
    let scopes = send(admin_json(
        http.post(server.url("/v1/connections/m/authorize")),
        &json!({ "scopes": canary }),
    ))
    .await;
    assert_eq!(scopes.status, 400, "{}", scopes.text);
    assert!(scopes.text.contains("scopes"), "{}", scopes.text);
    assert!(!scopes.text.contains(canary), "{}", scopes.text);

    let secret = send(admin_json(
        http.put(server.url("/v1/credentials/acme")),
        &json!({ "clientId": "acme", "clientSecret": 4711000042u64 }),
    ))
    .await;
    assert_eq!(secret.status, 400, "{}", secret.text);
    assert!(secret.text.contains("clientSecret"), "{}", secret.text);
    assert!(!secret.text.contains("4711000042"), "{}", secret.text);

    // An empty or swollen secret, or an id with a line break, is refused by field and
    // nothing is stored (an empty secret is not a public client: that leaves it out).
    let swollen = format!("canary-swollen-{}", "x".repeat(5000));
    for (body, field) in [
        (
            json!({ "clientId": "acme", "clientSecret": "" }),
            "clientSecret",
        ),
        (
            json!({ "clientId": "acme", "clientSecret": swollen }),
            "clientSecret",
        ),
        (
            json!({ "clientId": "ac\nme", "clientSecret": "s3cret-value" }),
            "clientId",
        ),
        (
            json!({ "clientId": " ", "clientSecret": "s3cret-value" }),
            "clientId",
        ),
    ] {
        let refused = send(admin_json(
            http.put(server.url("/v1/credentials/acme")),
            &body,
        ))
        .await;
        assert_eq!(refused.status, 400, "{field}: {}", refused.text);
        assert!(refused.text.contains(field), "{}", refused.text);
        assert!(!refused.text.contains("canary-swollen"), "{}", refused.text);
    }
    let listed = server.cli(&["credentials", "list", "--json"]);
    assert!(listed.status.success());
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        "[]",
        "nothing stored"
    );

    // Listed without the secret, deleted once, and an app connection's key is not a
    // credential key.
    let set = send(admin_json(
        http.put(server.url("/v1/credentials/acme")),
        &json!({ "clientId": "acme-client", "clientSecret": "canary-acme-secret-77" }),
    ))
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let list = send(admin_json(
        http.get(server.url("/v1/credentials")),
        &json!({}),
    ))
    .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let v: Value = serde_json::from_str(&list.text).expect("JSON");
    assert_eq!(v["credentials"][0]["key"], "acme", "{}", list.text);
    assert_eq!(v["credentials"][0]["clientId"], "acme-client");
    assert_eq!(v["credentials"][0]["hasSecret"], true);
    assert!(
        !list.text.contains("canary-acme-secret-77"),
        "{}",
        list.text
    );
    let delete = |key: &str| {
        admin_json(
            http.delete(server.url(&format!("/v1/credentials/{key}"))),
            &json!({}),
        )
    };
    assert_eq!(send(delete("acme")).await.status, 204);
    assert_eq!(send(delete("acme")).await.status, 404);
    assert_eq!(send(delete("app:crm")).await.status, 400);
    let list = send(admin_json(
        http.get(server.url("/v1/credentials")),
        &json!({}),
    ))
    .await;
    assert_eq!(list.text.trim(), r#"{"credentials":[]}"#);

    let logs = server.logs();
    for value in [
        canary,
        "canary-name-9c2",
        "4711000042",
        "canary-acme-secret-77",
    ] {
        assert!(!logs.contains(value), "{value} reached the logs");
    }
}

#[tokio::test]
async fn a_request_id_is_kept_only_when_short_and_plain() {
    let connectors = Connectors::new();
    connectors.add_misbehave();
    let server = Server::start(connectors.path(), &[]);
    let http = client();

    let plain = "req-abc.12:34_x";
    let kept = send(
        http.get(server.url("/healthz"))
            .header("x-request-id", plain),
    )
    .await;
    assert_eq!(kept.headers["x-request-id"], plain);

    let long = "a".repeat(65);
    let forged = "x\" level=ERROR message=\"forged";
    for bad in [long.as_str(), "has space", forged] {
        let a = send(http.get(server.url("/healthz")).header("x-request-id", bad)).await;
        let id = a.headers["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert_ne!(id, bad);
        assert!(
            !id.is_empty() && id.len() <= 64 && !id.contains(' '),
            "{id}"
        );
    }
    let logs = server.logs();
    assert!(logs.contains(plain), "{logs}");
    for bad in [long.as_str(), "has space", "level=ERROR message"] {
        assert!(!logs.contains(bad), "{bad} reached the logs");
    }
}
