//! A paged "items" API on 127.0.0.1 for stream tests and the stream benchmark:
//! `GET /items?page=N` answers a page of items (ten unless started with another count),
//! ids following on from the last page's, and `next` (N+1, or null on the last page). A test can make one page hang until released (to kill a run mid-way), make
//! the next requests fail with 500, and count the requests per page.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Items per page unless started with another count.
pub const PAGE_ITEMS: u64 = 10;

struct State {
    pages: AtomicU64,
    per_page: u64,
    /// `u64::MAX`: no page hangs.
    hang_at: AtomicU64,
    hung: Notify,
    release: Notify,
    fail_next: AtomicUsize,
    requests: Mutex<BTreeMap<u64, u32>>,
}

/// The running API.
#[derive(Clone)]
pub struct PagesApi {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl PagesApi {
    /// Starts the API with `pages` pages of [`PAGE_ITEMS`] on an ephemeral loopback port.
    pub async fn start(pages: u64) -> PagesApi {
        PagesApi::start_with(pages, PAGE_ITEMS).await
    }

    /// Starts the API with `pages` pages of `per_page` items.
    pub async fn start_with(pages: u64, per_page: u64) -> PagesApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            pages: AtomicU64::new(pages),
            per_page,
            hang_at: AtomicU64::new(u64::MAX),
            hung: Notify::new(),
            release: Notify::new(),
            fail_next: AtomicUsize::new(0),
            requests: Mutex::new(BTreeMap::new()),
        });
        let api = PagesApi {
            addr,
            state: state.clone(),
        };
        crate::provider::serve(listener, state, handle);
        api
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes a request for `page` hang until [`PagesApi::release`].
    pub fn hang_at(&self, page: u64) {
        self.state.hang_at.store(page, Ordering::SeqCst);
    }

    /// Resolves once a request for the hanging page has arrived.
    pub async fn hung(&self) {
        self.state.hung.notified().await;
    }

    /// Lets hanging requests go on and stops hanging.
    pub fn release(&self) {
        self.state.hang_at.store(u64::MAX, Ordering::SeqCst);
        self.state.release.notify_waiters();
    }

    /// Makes the next `n` requests answer 500.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Requests received per page number.
    /// Asserts that each of pages `0..pages` was requested once, but `twice`, which was
    /// requested twice (the page in flight when a run was killed, fetched again by the
    /// run that resumed it).
    pub fn assert_fetched_once_but(&self, pages: u64, twice: u64) {
        let requests = self.requests();
        for page in 0..pages {
            let expected = if page == twice { 2 } else { 1 };
            assert_eq!(
                requests.get(&page),
                Some(&expected),
                "page {page}: {requests:?}"
            );
        }
    }

    pub fn requests(&self) -> BTreeMap<u64, u32> {
        self.state
            .requests
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let page: u64 = req
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("page="))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    if let Ok(mut m) = state.requests.lock() {
        *m.entry(page).or_default() += 1;
    }
    let answer = |status: u16, body: String| {
        let mut res = Response::new(Full::new(Bytes::from(body)));
        *res.status_mut() =
            hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
        res.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        Ok(res)
    };
    if state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return answer(500, r#"{"error":"try again"}"#.into());
    }
    if page == state.hang_at.load(Ordering::SeqCst) {
        let released = state.release.notified();
        state.hung.notify_one();
        released.await;
    }
    let pages = state.pages.load(Ordering::SeqCst);
    let items: Vec<serde_json::Value> = (0..state.per_page)
        .map(|i| serde_json::json!({ "id": page * state.per_page + i, "name": format!("item {i} of page {page}") }))
        .collect();
    let next = (page + 1 < pages).then_some(page + 1);
    answer(
        200,
        serde_json::json!({ "items": items, "next": next }).to_string(),
    )
}

/// The pager connector's manifest for an API at `base`, with `streams` as given (JSON).
pub fn pager_manifest(base: &str, streams: &str) -> String {
    pager_manifest_with(base, streams, "[]")
}

/// [`pager_manifest`] with `webhooks` as given (JSON); `webhook_secret` signs them.
pub fn pager_manifest_with(base: &str, streams: &str, webhooks: &str) -> String {
    format!(
        r#"{{
        "key": "pager", "name": "Pager", "provider": "pages", "kind": "source",
        "version": "0.1.0",
        "permissions": {{
            "http": ["{base}/*"],
            "entities": {{ "Item": ["write"] }},
            "secrets": {{ "token": ["read"] }}
        }},
        "connection": {{
            "settingsSchema": {{
                "type": "object",
                "properties": {{
                    "baseUrl": {{ "type": "string" }},
                    "token": {{ "type": "string", "x-secret": true }},
                    "webhook_secret": {{ "type": "string", "x-secret": true }}
                }},
                "required": ["baseUrl"]
            }}
        }},
        "streams": {streams},
        "webhooks": {webhooks}
    }}"#
    )
}

/// In-process services over `data_dir` with the connectors of `connectors_dir`, allowed
/// to reach this machine's APIs, with the test suite's component cache.
pub fn pager_services(
    data_dir: &std::path::Path,
    connectors_dir: &std::path::Path,
) -> Arc<keyway_host::services::Services> {
    let mut config =
        crate::services_config(data_dir.to_path_buf(), vec![connectors_dir.to_path_buf()]);
    config.runtime = crate::test_runtime_config();
    config.egress.allowed_cidrs = vec!["127.0.0.1/32".parse().expect("a CIDR")];
    Arc::new(keyway_host::services::Services::open(config).expect("services"))
}

/// Creates the pager connection `name` for `api`, with the secret settings given.
pub fn create_pager_connection(
    services: &keyway_host::services::Services,
    name: &str,
    api: &PagesApi,
    secrets: &[(&str, &str)],
) -> Result<(), keyway_host::services::ServiceError> {
    use keyway_host::services::{NewConnectionInput, PlainValue, SettingsInput};
    services
        .create_connection(NewConnectionInput {
            auth_option: None,
            name: name.into(),
            connector: "pager".into(),
            lookup: keyway_host::catalog::Lookup::KeyOnly,
            settings: SettingsInput {
                plain: vec![(
                    "baseUrl".into(),
                    PlainValue::Json(serde_json::Value::String(api.base())),
                )],
                secret: secrets
                    .iter()
                    .map(|(k, v)| (k.to_string(), secrecy::SecretString::from(v.to_string())))
                    .collect(),
            },
        })
        .map(|_| ())
}
