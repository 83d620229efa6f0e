//! A connector that tries everything it should not be able to do and reports, as JSON,
//! what the host answered. The tests assert each attempt is refused with the right code.
//! `POST /answer` answers whatever it is told to, for the tests of what the server sends.

use keyway_sdk::{
    Auth, Error, HttpOptions, OAuth, Request, Response, Secrets, api, ingest, routes,
};
use serde_json::{Value, json};

fn outcome<T>(result: Result<T, Error>, ok: impl FnOnce(T) -> Value) -> Response {
    match result {
        Ok(v) => api::json(&json!({ "ok": true, "value": ok(v) })),
        Err(e) => api::json(&json!({ "ok": false, "code": e.code.as_str(), "message": e.message })),
    }
}

/// `GET /http?url=...&auth=none|oauth|shopify|bearer` — an outbound request.
fn http(req: Request) -> Response {
    let url = req.query("url").unwrap_or_default().to_string();
    let opts = match req.query("auth").unwrap_or("none") {
        "oauth" => HttpOptions::oauth(60),
        "shopify" => HttpOptions::oauth_header(60, "X-Shopify-Access-Token"),
        "bearer" => HttpOptions::default().auth(Auth::Bearer {
            secret: req.query("secret").unwrap_or("api_token").to_string(),
        }),
        _ => HttpOptions::default(),
    };
    outcome(
        keyway_sdk::Http::get(&url, opts),
        |res| json!({ "status": res.status, "body": res.text(), "location": res.header("location") }),
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
    GET "/token" (internal) => token,
    GET "/secret" (internal) => secret,
    POST "/ingest" (internal) => ingest_route,
    GET "/file" (internal) => file,
    GET "/env" (internal) => env,
    GET "/socket" (internal) => socket,
    // Server hardening: reachable over HTTP with an API key.
    POST "/answer" (api_key) => answer,
}
