//! The host's shared services for stored connections: the store, the connector catalog,
//! the token manager, outbound HTTP and the runtime, plus the one path that runs a route
//! for a stored connection (settings and secrets from the store, tokens from custody,
//! grants from the manifest). `keyway call --connection`, `connections test`, the
//! `postConnect` step and the server all go through it.
//!
//! Text taken from an invocation (a failure's message, a postConnect answer, outbound
//! URLs) is redacted with that invocation's redactor and only then clipped, before it is
//! returned, logged or stored.
//!
//! This module owns wiring; it must not duplicate what the store, catalog, registry or
//! runtime decide.

mod connect;

pub use connect::AuthorizationStart;

use crate::custody::{Catalog, ConnectionTokens, StoredProviders};
use crate::egress::CallRecord;
use crate::egress::{Egress, EgressConfig, EgressLimits};
use crate::ingest::{IngestSink, SqliteSink};
use crate::manifest::{RouteRef, ValidSettings};
use crate::oauth::{OAuthHttp, RefreshPolicy, TokenManager};
use crate::redact::Redactor;
use crate::registry::{self, Doors, LoadedConnector};
use crate::runtime::{MAX_ERROR_TEXT, RouteRequest, RouteResponse, Runtime, RuntimeConfig};
use crate::store::{ConnectionRecord, InvocationRecord, ProviderAccount, Store, now_unix_ms};
use anyhow::{Context, anyhow};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Total time one token, revocation or discovery request may take.
const OAUTH_TIMEOUT: Duration = Duration::from_secs(30);

/// How to set the services up.
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    pub data_dir: PathBuf,
    /// Directories to find connectors in by key.
    pub connector_dirs: Vec<PathBuf>,
    pub egress: EgressConfig,
    pub egress_limits: EgressLimits,
    pub runtime: RuntimeConfig,
}

impl ServicesConfig {
    /// Defaults for `data_dir` and `connector_dirs`: compiled components cached in the data
    /// directory, default limits.
    pub fn new(data_dir: PathBuf, connector_dirs: Vec<PathBuf>) -> Self {
        let runtime = RuntimeConfig {
            cache_dir: Some(data_dir.join("cache")),
            ..RuntimeConfig::default()
        };
        ServicesConfig {
            data_dir,
            connector_dirs,
            egress: EgressConfig::default(),
            egress_limits: EgressLimits::default(),
            runtime,
        }
    }
}

pub struct Services {
    pub store: Arc<Store>,
    pub catalog: Arc<Catalog>,
    pub tokens: Arc<TokenManager>,
    pub runtime: Runtime,
    oauth_http: OAuthHttp,
    egress: Arc<Egress>,
    egress_limits: EgressLimits,
    ingest: Arc<dyn IngestSink>,
    loaded: Mutex<HashMap<String, Arc<LoadedConnector>>>,
    /// Validated settings by connection id, with the version of the stored settings.
    settings: Mutex<HashMap<String, (String, ValidSettings)>>,
}

impl Services {
    pub fn open(config: ServicesConfig) -> anyhow::Result<Services> {
        let store = Arc::new(Store::open(&config.data_dir)?);
        let egress = Arc::new(
            Egress::new(config.egress)
                .map_err(|e| anyhow!("setting up outbound HTTP: {}", e.message))?,
        );
        // The host's own OAuth requests take the guests' egress: one address policy, one pool.
        let http = OAuthHttp::new(egress.clone(), OAUTH_TIMEOUT);
        let http_for_flows = http.clone();
        let catalog = Arc::new(Catalog::new(config.connector_dirs.clone(), http.clone()));
        let providers = Arc::new(StoredProviders {
            catalog: catalog.clone(),
            store: store.clone(),
        });
        let tokens = Arc::new(TokenManager::new(
            store.clone(),
            http,
            providers,
            RefreshPolicy::default(),
        ));
        let mut runtime_config = config.runtime;
        if runtime_config.cache_key.is_none() {
            runtime_config.cache_key = Some(store.component_cache_key().into());
        }
        let runtime = Runtime::new(runtime_config)?;
        let ingest: Arc<dyn IngestSink> = Arc::new(SqliteSink::new(store.clone()));
        Ok(Services {
            ingest,
            store,
            catalog,
            tokens,
            runtime,
            oauth_http: http_for_flows,
            egress,
            egress_limits: config.egress_limits,
            loaded: Mutex::new(HashMap::new()),
            settings: Mutex::new(HashMap::new()),
        })
    }

    /// The loaded connector for a catalog reference (directory or key), loaded once. The
    /// cache is by key: the catalog guarantees a key means one directory, or fails.
    pub async fn connector(&self, reference: &str) -> anyhow::Result<Arc<LoadedConnector>> {
        let manifest = self.catalog.manifest(reference)?;
        let key = manifest.connector.key().to_string();
        if let Some(hit) = self.loaded.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(hit);
        }
        let loaded = Arc::new(registry::load(&self.runtime, &manifest.dir, None).await?);
        if let Ok(mut m) = self.loaded.lock() {
            m.insert(key, loaded.clone());
        }
        Ok(loaded)
    }

    /// The validated settings of a stored connection. Opening the secret settings and
    /// running the schema and hostValidation checks happen once per version of the
    /// connection's stored settings, not on every call.
    fn settings_of(
        &self,
        connector: &LoadedConnector,
        record: &ConnectionRecord,
    ) -> anyhow::Result<ValidSettings> {
        let version = format!(
            "{}|{}|{:?}",
            record.updated_at,
            serde_json::Value::Object(record.settings.clone()),
            record.callback_params
        );
        if let Some((cached_version, settings)) = self
            .settings
            .lock()
            .ok()
            .and_then(|m| m.get(&record.id).cloned())
            && cached_version == version
        {
            return Ok(settings);
        }
        let secrets = self.store.secret_settings(&record.id)?;
        let settings = self
            .catalog
            .connection_settings(connector.connector(), record, &secrets)?;
        if let Ok(mut m) = self.settings.lock() {
            m.insert(record.id.clone(), (version, settings.clone()));
        }
        Ok(settings)
    }

    /// Runs a route for the stored connection `name`.
    pub async fn invoke(&self, name: &str, req: RouteRequest) -> anyhow::Result<RouteResponse> {
        let record = self.store.connection_by_name(name)?;
        let connector = self.connector(&record.connector).await?;
        self.invoke_resolved(&record, &connector, req).await
    }

    /// Runs a route for a connection whose record and connector the caller already looked
    /// up (the server does, to check the route's auth), so nothing is read twice.
    pub async fn invoke_resolved(
        &self,
        record: &ConnectionRecord,
        connector: &LoadedConnector,
        req: RouteRequest,
    ) -> anyhow::Result<RouteResponse> {
        let name = record.name.as_str();
        let settings = self.settings_of(connector, record)?;
        let doors = Doors {
            egress: Some(self.egress.clone()),
            egress_limits: self.egress_limits.clone(),
            tokens: connector
                .connector()
                .oauth()
                .map(|_| Arc::new(ConnectionTokens::new(self.tokens.clone(), &record.id)) as _),
            ingest: Some(self.ingest.clone()),
        };
        let ctx = connector.context(Some(name), &settings, &doors);
        let route = format!("{} {}", req.method, req.path);
        let started_at_ms = now_unix_ms();
        let started = Instant::now();
        let outcome = connector.component.invoke(&ctx, req).await;
        let mut failure = None;
        let record = match &outcome {
            Ok(res) => InvocationRecord {
                id: res.invocation_id.clone(),
                status: Some(res.status),
                error_code: None,
                error: None,
                duration_us: micros(res.duration),
                outbound: calls_json(&res.calls, &res.redactor),
                ..invocation_base(name, &record.connector, &route, started_at_ms)
            },
            Err(e) => {
                let failed = InvocationFailed {
                    invocation_id: format!(
                        "failed-{started_at_ms}-{}",
                        FAILED_SEQ.fetch_add(1, Ordering::Relaxed)
                    ),
                    code: e.code(),
                    http_status: e.http_status(),
                    message: ctx.redactor.redact_clipped(&e.to_string(), MAX_ERROR_TEXT),
                };
                let row = InvocationRecord {
                    id: failed.invocation_id.clone(),
                    status: None,
                    error_code: Some(failed.code.to_string()),
                    error: Some(failed.message.clone()),
                    duration_us: micros(started.elapsed()),
                    outbound: serde_json::Value::Array(Vec::new()),
                    ..invocation_base(name, &record.connector, &route, started_at_ms)
                };
                failure = Some(failed);
                row
            }
        };
        if let Err(e) = self.store.record_invocation(record) {
            tracing::warn!(connection = name, error = %e, "could not record the invocation");
        }
        match (outcome, failure) {
            (Ok(res), _) => Ok(res),
            (Err(_), Some(failed)) => Err(failed.into()),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// The newest `limit` invocations of the connection `name`.
    pub fn recent_invocations(
        &self,
        name: &str,
        limit: u32,
    ) -> anyhow::Result<Vec<InvocationRecord>> {
        Ok(self.store.recent_invocations(name, limit)?)
    }

    async fn run_route_ref(&self, name: &str, route: &RouteRef) -> anyhow::Result<RouteResponse> {
        self.invoke(name, RouteRequest::new(route.method, route.path.clone()))
            .await
    }

    /// Runs the manifest's `testConnection` route for `name`.
    pub async fn test_connection(&self, name: &str) -> anyhow::Result<RouteResponse> {
        let record = self.store.connection_by_name(name)?;
        let connector = self.connector(&record.connector).await?;
        let route = connector
            .connector()
            .connection()
            .test_connection
            .clone()
            .ok_or_else(|| {
                anyhow!(
                    "connector `{}` declares no connection.testConnection",
                    record.connector
                )
            })?;
        self.run_route_ref(name, &route).await
    }

    /// Runs the manifest's `postConnect` route for `name` (if it has one) and records the
    /// provider account it returns (`providerAccountId`, `providerAccountName`,
    /// `providerAccountDomain`).
    pub async fn post_connect(&self, name: &str) -> anyhow::Result<Option<ProviderAccount>> {
        let record = self.store.connection_by_name(name)?;
        let connector = self.connector(&record.connector).await?;
        let Some(route) = connector
            .connector()
            .oauth()
            .and_then(|o| o.post_connect.clone())
        else {
            return Ok(None);
        };
        let res = self.run_route_ref(name, &route).await?;
        // The answer is the guest's: redacted with what its invocation knew, then clipped,
        // before it reaches a log, the callback page or the connection's row.
        let clean = |text: &str, max: usize| res.redactor.redact_clipped(text, max);
        if !(200..300).contains(&res.status) {
            anyhow::bail!(
                "postConnect route {} {} answered {}: {}",
                route.method,
                route.path,
                res.status,
                clean(&String::from_utf8_lossy(&res.body), MAX_ERROR_TEXT)
            );
        }
        let body: serde_json::Value = serde_json::from_slice(&res.body).with_context(|| {
            format!(
                "postConnect route {} {} did not answer JSON",
                route.method, route.path
            )
        })?;
        let field = |k: &str| {
            body.get(k).and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| (!v.is_null()).then(|| v.to_string()))
                    .map(|text| clean(&text, MAX_ACCOUNT_FIELD))
            })
        };
        let account = ProviderAccount {
            id: field("providerAccountId"),
            name: field("providerAccountName"),
            domain: field("providerAccountDomain"),
        };
        self.store.set_provider_account(&record.id, &account)?;
        Ok(Some(account))
    }
}

/// A route invocation that ended without an answer from the guest (trap, deadline,
/// memory cap, unknown route, malformed answer). The message is redacted; the id is the
/// one recorded in the invocation history.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct InvocationFailed {
    pub invocation_id: String,
    /// The runtime's stable code, for example `deadline_exceeded`.
    pub code: &'static str,
    /// The HTTP status a caller should see (404, 405, 500, 504).
    pub http_status: u16,
    pub message: String,
}

/// Longest provider account id, name or domain kept from a postConnect answer.
const MAX_ACCOUNT_FIELD: usize = 512;

/// Longest outbound URL kept in an invocation row.
const MAX_STORED_URL: usize = 2048;

/// Distinguishes failed invocations recorded in the same millisecond.
static FAILED_SEQ: AtomicU64 = AtomicU64::new(1);

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn invocation_base(
    connection: &str,
    connector: &str,
    route: &str,
    started_at_ms: i64,
) -> InvocationRecord {
    InvocationRecord {
        id: String::new(),
        connection: connection.to_string(),
        connector: connector.to_string(),
        route: route.to_string(),
        status: None,
        error_code: None,
        error: None,
        duration_us: 0,
        outbound: serde_json::Value::Null,
        started_at_ms,
    }
}

/// The outbound calls as stored: method, URL (redacted with everything the invocation
/// learned, then clipped), status or error code, time, retry.
fn calls_json(calls: &[CallRecord], redactor: &Redactor) -> serde_json::Value {
    serde_json::Value::Array(
        calls
            .iter()
            .map(|c| {
                serde_json::json!({
                    "method": c.method.as_str(),
                    "url": redactor.redact_clipped(&c.url, MAX_STORED_URL),
                    "status": c.status,
                    "error": c.error.map(|e| e.as_str()),
                    "durationUs": micros(c.duration),
                    "retry": c.retry,
                })
            })
            .collect(),
    )
}
