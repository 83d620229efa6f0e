//! A source connector for the ingest tests and benchmark: it hands batches of records to
//! the host, through the SDK or as raw text through the bindings, and answers with what
//! the host said, as JSON.

use keyway_sdk::wit::keyway::connector::ingest as raw_ingest;
use keyway_sdk::{Error, Request, Response, api, ingest, routes};
use serde::Deserialize;
use serde_json::{Value, json};

fn outcome<T: serde::Serialize>(result: Result<T, Error>) -> Response {
    match result {
        Ok(v) => api::json(&json!({ "ok": true, "value": v })),
        Err(e) => api::json(&json!({ "ok": false, "code": e.code.as_str(), "message": e.message })),
    }
}

fn number(req: &Request, name: &str, default: u64) -> u64 {
    req.query(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key_of(value: &Value, _index: usize) -> String {
    format!("rec-{}", value["id"])
}

/// `POST /batch?entity=&n=&offset=&keys=yes|no&stream=&bad=<index>&continue=yes|no` —
/// `n` records `{"id": offset+i, "name": ...}` through the SDK; `bad` replaces one with a
/// number (not an object).
fn batch(req: Request) -> Response {
    let entity = req.query("entity").unwrap_or("Order").to_string();
    let n = number(&req, "n", 10);
    let offset = number(&req, "offset", 0);
    let bad = req.query("bad").and_then(|v| v.parse::<u64>().ok());
    let payloads: Vec<Value> = (0..n)
        .map(|i| {
            if Some(i) == bad {
                json!(i)
            } else {
                json!({ "id": offset + i, "name": format!("record {}", offset + i), "total": 12.5 })
            }
        })
        .collect();
    let mut options = match req.query("stream") {
        Some(s) => ingest::BatchOptions::stream(s),
        None => ingest::BatchOptions::default(),
    };
    options = options.continue_on_error(req.query("continue") == Some("yes"));
    if req.query("keys") == Some("yes") {
        options = options.idempotency_key(&key_of);
    }
    outcome(ingest::batch(&entity, &payloads, options))
}

#[derive(Deserialize)]
struct RawBatch {
    entity: String,
    payloads: Vec<String>,
    #[serde(default)]
    keys: Option<Vec<String>>,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default, rename = "continue")]
    continue_on_error: bool,
}

/// `POST /raw` with `{"entity", "payloads": [text], "keys"?, "stream"?, "continue"?}` —
/// the payload texts exactly as given, past the SDK's serialization.
fn raw(req: Request) -> Response {
    let body: RawBatch = match req.json() {
        Ok(b) => b,
        Err(e) => return api::from_error(&e),
    };
    let opts = raw_ingest::BatchOptions {
        stream: body.stream,
        continue_on_error: body.continue_on_error,
        idempotency_keys: body.keys,
    };
    let result = raw_ingest::batch(&body.entity, &body.payloads, &opts)
        .map(|r| {
            json!({
                "imported": r.imported,
                "duplicates": r.duplicates,
                "failed": r.failed,
                "items": r.items.iter().map(|i| json!({
                    "index": i.index,
                    "status": format!("{:?}", i.status).to_lowercase(),
                    "idempotencyKey": i.idempotency_key,
                    "error": i.error,
                })).collect::<Vec<_>>(),
            })
        })
        .map_err(Error::from);
    outcome(result)
}

routes! {
    POST "/batch" (internal) => batch,
    POST "/raw" (internal) => raw,
}
