//! `hello`: the smallest Keyway connector. Its routes echo the request, read settings
//! and secrets, log, and return every `api::*` error shape, so the host's runtime can be
//! proved end to end without a provider.

use keyway_sdk::{Error, Request, Response, Secrets, Settings, api, routes};
use serde_json::{Value, json};

/// Echoes method, path, query, headers and the JSON body.
fn echo(req: Request) -> Result<Response, Error> {
    let body: Value = req.json()?;
    keyway_sdk::info!(path = req.path; "echo called");
    Ok(api::json(&json!({
        "method": req.method.as_str(),
        "path": req.path,
        "query": req.query,
        "headers": req.headers,
        "body": body,
    })))
}

/// Reads the `greeting` setting and greets `?name=`.
fn greet(req: Request) -> Result<Response, Error> {
    let greeting = Settings::get("greeting")?.unwrap_or_else(|| "Hello".to_string());
    let name = req.query("name").unwrap_or("world");
    Ok(api::json(
        &json!({ "message": format!("{greeting}, {name}!") }),
    ))
}

/// Reads a setting named by `?name=` and reports the host's answer, error code included.
fn setting(req: Request) -> Response {
    let name = req.query("name").unwrap_or_default();
    match Settings::get(name) {
        Ok(value) => api::json(&json!({ "name": name, "value": value })),
        Err(e) => api::json_status(
            200,
            &json!({ "name": name, "error": e.code.as_str(), "message": e.message }),
        ),
    }
}

/// Reads a secret named by `?name=`; answers only whether it was readable and its length,
/// never the value.
fn secret(req: Request) -> Response {
    let name = req.query("name").unwrap_or_default();
    match Secrets::get(name) {
        Ok(value) => api::json(&json!({ "name": name, "readable": true, "length": value.len() })),
        Err(e) => api::json(&json!({ "name": name, "readable": false, "error": e.code.as_str() })),
    }
}

/// Returns the error shape named by `?kind=`.
fn fail(req: Request) -> Response {
    match req.query("kind").unwrap_or_default() {
        "bad_request" => api::bad_request("the input was not acceptable"),
        "bad_request_with" => {
            api::bad_request_with("the input was not acceptable", json!({ "field": "name" }))
        }
        "unauthorized" => api::unauthorized("no valid credentials"),
        "forbidden" => api::forbidden("not allowed"),
        "not_found" => api::not_found("nothing here"),
        "error" => api::error("something broke", 500),
        "provider_error" => api::provider_error("the provider failed", 503),
        "json_status" => api::json_status(201, &json!({ "created": true })),
        other => api::bad_request(&format!("unknown kind `{other}`")),
    }
}

/// Propagates a host error with `?` so the error-to-response mapping is exercised.
fn token(_req: Request) -> Result<Response, Error> {
    let token = keyway_sdk::OAuth::access_token(60)?;
    Ok(api::json(&json!({ "length": token.len() })))
}

/// Panics, which traps the guest; the host must answer with an error and keep serving.
/// With `?leak=secret` the panic message carries the `api_token` secret, which the host
/// must redact from the error it reports.
fn panic_route(req: Request) -> Response {
    if req.query("leak") == Some("secret") {
        let token = Secrets::get("api_token").unwrap_or_default();
        panic!("hello connector was asked to panic holding {token}");
    }
    panic!("hello connector was asked to panic");
}

/// Writes to stdout and stderr and logs, which the host captures into its logs. With
/// `?leak=secret` every line carries the `api_token` secret, which the host must redact.
fn print(req: Request) -> Response {
    let leak = if req.query("leak") == Some("secret") {
        Secrets::get("api_token").unwrap_or_default()
    } else {
        String::new()
    };
    println!("hello from stdout {leak}");
    eprintln!("hello from stderr {leak}");
    keyway_sdk::warn!(token = leak; "hello from the log door {leak}");
    api::json(&json!({ "printed": true }))
}

/// The cheapest route: what a benchmark of one invocation measures.
fn ping(_req: Request) -> Response {
    Response::new(200, "pong")
}

routes! {
    GET "/ping" (api_key) => ping,
    POST "/echo" (api_key) => echo,
    GET "/greet" (api_key) => greet,
    GET "/setting" (internal) => setting,
    GET "/secret" (internal) => secret,
    GET "/fail" (api_key) => fail,
    GET "/token" (internal) => token,
    POST "/panic" (internal) => panic_route,
    POST "/print" (internal) => print,
}
