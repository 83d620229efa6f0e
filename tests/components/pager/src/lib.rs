//! A stream connector for the stream tests and benchmark. `POST /sync/items` reads the
//! stream's cursor (the next page number), then fetches `{baseUrl}/items?page=N` page by
//! page, ingests each page's items as `Item` records keyed by id, and checkpoints the next
//! page number after each one. `POST /sync/leak` tries to checkpoint a secret setting.

use keyway_sdk::sync::SyncOptions;
use keyway_sdk::{
    Error, ErrorCode, Http, HttpOptions, Request, Response, Secrets, Settings, api, ingest, routes,
};
use serde_json::{Value, json};

fn base_url() -> Result<String, Error> {
    Settings::get("baseUrl")?
        .ok_or_else(|| Error::new(ErrorCode::InvalidInput, "the baseUrl setting is not set"))
}

fn sync_items(req: Request) -> Result<Response, Error> {
    let options = SyncOptions::from_request(&req)?;
    let base = base_url()?;
    let mut page: u64 = match options.cursor()? {
        Some(c) => c
            .parse()
            .map_err(|_| Error::invalid_input(format!("cursor `{c}` is not a page number")))?,
        None => 0,
    };
    let (mut pages, mut imported) = (0u32, 0u32);
    loop {
        if pages >= options.max_pages {
            break;
        }
        let res = Http::get(&format!("{base}/items?page={page}"), HttpOptions::default())?;
        if !res.ok() {
            return Ok(api::provider_error(
                &format!("page {page}: the API answered {}", res.status),
                res.status,
            ));
        }
        let body: Value = res.json()?;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        let key = |v: &Value, _: usize| format!("item-{}", v["id"]);
        let batch = ingest::batch(
            "Item",
            &items,
            ingest::BatchOptions::default().idempotency_key(&key),
        )?;
        imported += batch.imported;
        pages += 1;
        match body["next"].as_u64() {
            Some(next) => {
                page = next;
                options.checkpoint(&page.to_string())?;
            }
            None => break,
        }
    }
    Ok(api::json(
        &json!({ "pages": pages, "imported": imported, "cursor": page }),
    ))
}

/// `POST /webhooks/items`: a delivery `{"items": [...], "page": N?, "fail": bool?}`. It
/// stores one `Item` record per delivery naming the headers the route saw (keyed by the
/// delivery id, so a delivery handed over twice is stored once), then the items given or
/// those of page N of the API (which a test can make hang), or answers 500 when `fail`.
fn webhook_items(req: Request) -> Result<Response, Error> {
    let body: Value = req.json()?;
    if body["fail"].as_bool() == Some(true) {
        return Ok(api::provider_error("asked to fail", 500));
    }
    let delivery = req.header("x-keyway-delivery").unwrap_or("-").to_string();
    let seen: Vec<String> = req
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    let mut items =
        vec![json!({ "id": format!("hook-{delivery}"), "headers": seen, "body": body.clone() })];
    if let Some(page) = body["page"].as_u64() {
        let res = Http::get(
            &format!("{}/items?page={page}", base_url()?),
            HttpOptions::default(),
        )?;
        let fetched: Value = res.json()?;
        items.extend(fetched["items"].as_array().cloned().unwrap_or_default());
    }
    items.extend(body["items"].as_array().cloned().unwrap_or_default());
    let key = |v: &Value, _: usize| format!("item-{}", v["id"]);
    let batch = ingest::batch(
        "Item",
        &items,
        ingest::BatchOptions::default().idempotency_key(&key),
    )?;
    Ok(api::json(&json!({ "imported": batch.imported })))
}

fn sync_leak(req: Request) -> Result<Response, Error> {
    let options = SyncOptions::from_request(&req)?;
    let secret = Secrets::get("token")?;
    match options.checkpoint(&format!("cursor-{secret}")) {
        Ok(()) => Ok(api::json(&json!({ "checkpointed": true }))),
        Err(e) => Ok(api::json(
            &json!({ "checkpointed": false, "code": e.code.as_str(), "message": e.message }),
        )),
    }
}

routes! {
    POST "/sync/items" (internal) => sync_items,
    POST "/sync/leak" (internal) => sync_leak,
    POST "/webhooks/items" (internal) => webhook_items,
}
