//! `sandbox`: the connector for Keyway's built-in sandbox provider (`keyway serve
//! --sandbox`). It checks the account behind the grant, syncs the shop's orders page by
//! page into the `order` entity, keyed by order id, so a second sync stores nothing new
//! (run by the host every minute as the incremental `orders` stream), and takes the
//! shop's signed order webhooks.

use keyway_sdk::sync::SyncOptions;
use keyway_sdk::{Error, ErrorCode, Http, HttpOptions, Request, Response, api, ingest, routes};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

const API: &str = "http://127.0.0.1:8788/api";
/// Orders asked for per page.
const PAGE_SIZE: u32 = 10;
/// A guard against a provider that never stops paging.
const MAX_PAGES: u32 = 1000;

/// A provider answer that is not a success, as the route's error.
fn provider_failure(what: &str, res: &keyway_sdk::HttpResponse) -> Response {
    let retry = res.header("retry-after").unwrap_or("-");
    api::provider_error(
        &format!(
            "{what}: the sandbox answered {} (retry-after {retry})",
            res.status
        ),
        res.status,
    )
}

/// `POST /setup/test_connection`: the account id, name and domain behind the grant.
fn test_connection(_req: Request) -> Result<Response, Error> {
    let res = Http::get(&format!("{API}/me"), HttpOptions::oauth(60))?;
    if !res.ok() {
        return Ok(provider_failure("reading the account", &res));
    }
    let me: Value = res.json()?;
    let field = |k: &str| me.get(k).and_then(Value::as_str).map(str::to_string);
    let id = field("id")
        .ok_or_else(|| Error::new(ErrorCode::ProviderUnavailable, "the account has no id"))?;
    Ok(api::json(&json!({
        "providerAccountId": id,
        "providerAccountName": field("name"),
        "providerAccountDomain": field("domain"),
    })))
}

/// Where an incremental sync of orders stands: orders updated after `since` are still to
/// fetch, from page `page` on (`None`: the first page).
#[derive(Debug, Default, PartialEq)]
struct Progress {
    since: Option<String>,
    page: Option<String>,
}

impl Progress {
    fn parse(text: &str) -> Result<Progress, Error> {
        let v: Value = serde_json::from_str(text)
            .map_err(|_| Error::invalid_input("the stream's cursor is not this connector's"))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(Progress {
            since: field("since"),
            page: field("page"),
        })
    }

    fn to_cursor(&self) -> String {
        json!({ "since": self.since, "page": self.page }).to_string()
    }
}

/// `POST /sync/orders`: orders oldest first, ingested with their id as the key. Called
/// directly it fetches every order; run by the host as the `orders` stream it fetches
/// those updated since the last run, and checkpoints after every page, so a run stopped
/// half-way resumes at the page it was on.
fn sync_orders(req: Request) -> Result<Response, Error> {
    let options = SyncOptions::from_request(&req)?;
    let start = match options.cursor()? {
        Some(text) => Progress::parse(&text)?,
        None => Progress::default(),
    };
    let mut progress = Progress {
        since: start.since.clone(),
        page: start.page,
    };
    let mut newest = start.since;
    let (mut pages, mut imported, mut duplicates) = (0u32, 0u32, 0u32);
    loop {
        if pages >= options.max_pages.min(MAX_PAGES) {
            return Err(Error::new(
                ErrorCode::ProviderUnavailable,
                format!("the orders API was still paging after {pages} pages"),
            ));
        }
        let mut url = format!("{API}/orders?limit={PAGE_SIZE}");
        for (name, value) in [
            ("updated_since", &progress.since),
            ("cursor", &progress.page),
        ] {
            if let Some(v) = value {
                url.push_str(&format!("&{name}="));
                url.push_str(&utf8_percent_encode(v, NON_ALPHANUMERIC).to_string());
            }
        }
        let res = Http::get(&url, HttpOptions::oauth(60))?;
        if !res.ok() {
            return Ok(provider_failure("listing orders", &res));
        }
        let page: Value = res.json()?;
        let orders = page
            .get("orders")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::ProviderUnavailable,
                    "the orders page has no `orders` list",
                )
            })?;
        pages += 1;
        let key = |order: &Value, index: usize| {
            order
                .get("id")
                .and_then(Value::as_str)
                .map(|id| format!("sandbox-order-{id}"))
                .unwrap_or_else(|| format!("sandbox-order-page{pages}-{index}"))
        };
        if !orders.is_empty() {
            let result = ingest::batch(
                "order",
                orders,
                ingest::BatchOptions::stream("orders").idempotency_key(&key),
            )?;
            imported += result.imported;
            duplicates += result.duplicates;
        }
        for order in orders {
            if let Some(at) = order.get("updatedAt").and_then(Value::as_str)
                && newest.as_deref().is_none_or(|n| at > n)
            {
                newest = Some(at.to_string());
            }
        }
        progress.page = page
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        if progress.page.is_none() {
            // A whole pass: the next run asks only for what changed after it.
            progress.since = newest.clone();
            options.checkpoint(&progress.to_cursor())?;
            break;
        }
        options.checkpoint(&progress.to_cursor())?;
    }
    keyway_sdk::info!(pages = pages.to_string(); "orders synced");
    Ok(api::json(&json!({
        "pages": pages,
        "imported": imported,
        "duplicates": duplicates,
    })))
}

/// `POST /webhooks/orders`: a delivery the host verified (it never shows the route the
/// signature or the secret). Each event is stored as a `webhook_event` keyed by its
/// delivery id; an event carrying an `order` stores the order too.
fn order_event(req: Request) -> Result<Response, Error> {
    let event: Value = req.json()?;
    let delivery = req
        .header("x-keyway-delivery")
        .ok_or_else(|| Error::invalid_input("not a webhook delivery"))?
        .to_string();
    let record = json!({
        "deliveryId": delivery,
        "type": event.get("type").cloned().unwrap_or(Value::Null),
        "receivedBy": "sandbox",
    });
    let key_of_event = |_: &Value, _: usize| format!("sandbox-event-{delivery}");
    ingest::batch(
        "webhook_event",
        &[record],
        ingest::BatchOptions::stream("webhooks").idempotency_key(&key_of_event),
    )?;
    let mut orders = 0;
    if let Some(order) = event.get("order").filter(|o| o.is_object()) {
        let key = |o: &Value, _: usize| {
            format!(
                "sandbox-order-{}",
                o.get("id").and_then(Value::as_str).unwrap_or("-")
            )
        };
        orders = ingest::batch(
            "order",
            std::slice::from_ref(order),
            ingest::BatchOptions::stream("orders").idempotency_key(&key),
        )?
        .imported;
    }
    Ok(api::json(
        &json!({ "event": delivery, "ordersImported": orders }),
    ))
}

routes! {
    POST "/setup/test_connection" (api_key) => test_connection,
    POST "/sync/orders" (api_key) => sync_orders,
    POST "/webhooks/orders" (internal) => order_event,
}
