//! A connector that tries everything it should not be able to do and reports, as JSON,
//! what the host answered. The tests assert each attempt is refused with the right code.
//! `POST /answer` answers whatever it is told to, for the tests of what the server sends.

use keyway_sdk::{Error, HttpOptions, OAuth, Request, Response, Secrets, api, ingest, routes};
use serde_json::{Value, json};

fn outcome<T>(result: Result<T, Error>, ok: impl FnOnce(T) -> Value) -> Response {
    match result {
        Ok(v) => api::json(&json!({ "ok": true, "value": ok(v) })),
        Err(e) => api::json(&json!({ "ok": false, "code": e.code.as_str(), "message": e.message })),
    }
}

/// `GET /http?url=...&auth=none|oauth|secret[&secret=name][&header=name:value]` — an
/// outbound request, optionally with one header of the guest's own.
fn http(req: Request) -> Response {
    let url = req.query("url").unwrap_or_default().to_string();
    let mut opts = match req.query("auth").unwrap_or("none") {
        "oauth" => HttpOptions::oauth(60),
        "secret" => HttpOptions::secret(req.query("secret").unwrap_or("api_token")),
        _ => HttpOptions::default(),
    };
    if let Some((name, value)) = req.query("header").and_then(|h| h.split_once(':')) {
        opts = opts.header(name, value);
    }
    outcome(
        keyway_sdk::Http::get(&url, opts),
        |res| json!({ "status": res.status, "body": res.text(), "location": res.header("location"), "headers": res.headers }),
    )
}

/// `GET /api?path=/x` — a request relative to `connection.api`, with the credential the
/// connection's way of authenticating gives it.
fn provider_api(req: Request) -> Response {
    outcome(
        keyway_sdk::Api::get(req.query("path").unwrap_or("/")),
        |res| json!({ "status": res.status, "body": res.text() }),
    )
}

/// `GET /token` — read the access token (refused in strict custody).
fn token(_req: Request) -> Response {
    outcome(OAuth::access_token(60), |t| json!({ "length": t.len() }))
}

/// `GET /secret?name=` — read a secret setting.
fn secret(req: Request) -> Response {
    outcome(
        Secrets::get(req.query("name").unwrap_or_default()),
        |v| json!({ "length": v.len() }),
    )
}

/// `POST /ingest?entity=` — write a record of an entity.
fn ingest_route(req: Request) -> Response {
    let entity = req.query("entity").unwrap_or_default().to_string();
    let payloads = vec![json!({ "id": 1 })];
    outcome(
        ingest::batch(&entity, &payloads, ingest::BatchOptions::default()),
        |r| json!({ "imported": r.imported }),
    )
}

/// `GET /file` — read a host file.
fn file(_req: Request) -> Response {
    let attempts: Vec<Value> = ["/etc/passwd", ".", "/"]
        .iter()
        .map(|p| {
            match std::fs::read_dir(p)
                .map(|_| ())
                .or_else(|_| std::fs::read(p).map(|_| ()))
            {
                Ok(()) => json!({ "path": p, "opened": true }),
                Err(e) => json!({ "path": p, "opened": false, "error": e.to_string() }),
            }
        })
        .collect();
    api::json(&json!({ "attempts": attempts }))
}

/// `GET /env` — read the environment and arguments.
fn env(_req: Request) -> Response {
    api::json(&json!({
        "vars": std::env::vars().count(),
        "home": std::env::var("HOME").ok(),
        "path": std::env::var("PATH").ok(),
        "args": std::env::args().count(),
    }))
}

/// `GET /socket` — open a socket.
fn socket(_req: Request) -> Response {
    let tcp = std::net::TcpStream::connect("127.0.0.1:80")
        .map(|_| ())
        .map_err(|e| e.to_string());
    let udp = std::net::UdpSocket::bind("0.0.0.0:0")
        .map(|_| ())
        .map_err(|e| e.to_string());
    let dns = std::net::ToSocketAddrs::to_socket_addrs("localhost:80")
        .map(|_| ())
        .map_err(|e| e.to_string());
    api::json(&json!({
        "tcp": tcp.err(),
        "udp": udp.err(),
        "dns": dns.err(),
    }))
}

/// `GET /account` — what a `postConnect` route answers: the provider account, here
/// with the scopes the host reports as granted in the name.
fn account(_req: Request) -> Response {
    let scopes = OAuth::granted_scopes().unwrap_or_default().join(" ");
    api::json(&json!({
        "providerAccountId": "acct-42",
        "providerAccountName": format!("Test account ({scopes})"),
        "providerAccountDomain": "example.test",
    }))
}

// ---------------------------------------------------------------------------------------
// Text that leaves an invocation: log floods, secrets placed across the clip points of
// the log door and of stdout, and a postConnect answer that fails carrying a secret.
// ---------------------------------------------------------------------------------------

fn number(req: &Request, name: &str, default: usize) -> usize {
    req.query(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `GET /log-flood?n=&size=` — `n` log events, each with a message of `size` bytes.
fn log_flood(req: Request) -> Response {
    let n = number(&req, "n", 10_000);
    let size = number(&req, "size", 64);
    let filler = "f".repeat(size.saturating_sub(24));
    for i in 0..n {
        keyway_sdk::log::event(
            keyway_sdk::log::Level::Info,
            &format!("flood-event {i:08} {filler}"),
            &[],
        );
    }
    api::json(&json!({ "sent": n }))
}

/// `GET /log-secret?name=&pad=&via=message|field|stdout` — the secret setting `name`
/// written after `pad` bytes of filler, so it straddles a clip point: the log door's
/// message, a log field's value, or guest stdout (no newline before it).
fn log_secret(req: Request) -> Response {
    let value = match Secrets::get(req.query("name").unwrap_or_default()) {
        Ok(v) => v,
        Err(e) => return api::error(&e.message, 500),
    };
    let text = format!(
        "{}{value} after the secret",
        "p".repeat(number(&req, "pad", 0))
    );
    match req.query("via").unwrap_or("message") {
        "field" => keyway_sdk::log::event(keyway_sdk::log::Level::Info, "a field", &[("v", &text)]),
        "stdout" => {
            use std::io::Write;
            let mut out = std::io::stdout();
            let _ = out.write_all(text.as_bytes());
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        }
        _ => keyway_sdk::log::event(keyway_sdk::log::Level::Info, &text, &[]),
    }
    api::json(&json!({ "written": text.len() }))
}

/// `GET /post-connect-fail?name=` — what a failing `postConnect` route answers: a 500
/// whose body carries the secret setting `name`.
fn post_connect_fail(req: Request) -> Response {
    let value = Secrets::get(req.query("name").unwrap_or("api_token")).unwrap_or_default();
    Response::new(500, format!("upstream said: key {value} is not valid"))
}

// ---- Answers the host must sanitize (server hardening) ----------------------------
// `POST /answer` answers with exactly the status, headers and body its JSON request
// names: `{"status": 200, "headers": [["name", "value"], ...], "body": "text"}`. The
// serve tests use it for lying framing headers, cookies, redirects, HTML and statuses
// a route may not answer with.

fn answer(req: Request) -> Response {
    let spec: Value = match req.json() {
        Ok(v) => v,
        Err(e) => return api::bad_request(&e.message),
    };
    let status = spec["status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    let body = spec["body"].as_str().unwrap_or_default().to_string();
    let mut res = Response::new(status, body);
    for pair in spec["headers"].as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (pair[0].as_str(), pair[1].as_str()) {
            res = res.with_header(name, value);
        }
    }
    res
}

// ---- end of the server hardening block ---------------------------------------------

routes! {
    GET "/account" (internal) => account,
    GET "/http" (internal) => http,
    GET "/api" (internal) => provider_api,
    GET "/token" (internal) => token,
    GET "/secret" (internal) => secret,
    POST "/ingest" (internal) => ingest_route,
    GET "/file" (internal) => file,
    GET "/env" (internal) => env,
    GET "/socket" (internal) => socket,
    // Text that leaves an invocation (see the block above).
    GET "/log-flood" (internal) => log_flood,
    GET "/log-secret" (internal) => log_secret,
    GET "/post-connect-fail" (internal) => post_connect_fail,
    // Server hardening: reachable over HTTP with an API key.
    POST "/answer" (api_key) => answer,
    // Replicas: `/http` reachable over HTTP with an API key, so a caller's request makes
    // the host obtain (and refresh) the injected token.
    GET "/call" (api_key) => http,
}
