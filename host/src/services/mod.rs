//! The host's use cases, shared by both edges (the CLI and the server): one home each.
//! [`Services`] joins the store, the catalog of connectors, token custody, outbound HTTP
//! and the ingest sink; the use cases are its methods, one file per resource:
//! connections (`connections.rs`), connecting them (`connect.rs`), running their routes
//! and the history of those runs (`invoke.rs`), and what the rest reads
//! (`records.rs`). Every answer an edge prints is a view (`views.rs`); every failure is a
//! [`ServiceError`].
//!
//! Owns: wiring; what route calls are served from in memory is `live.rs`'s.
//! Must not: parse a command line or an HTTP request, or decide what the store, catalog,
//! registry, runtime or `oauth` decide.

mod app_connections;
pub mod apply;
mod bearer;
mod connect;
mod connect_links;
mod connections;
mod console_sessions;
pub(crate) mod credentials;
mod error;
mod invoke;
mod live;
mod records;
mod returns;
mod schedule;
mod streams;
pub(crate) mod views;
mod webhooks;

pub use app_connections::AppConnectionInput;
pub use connect::{AuthorizationStart, Completed, Expected};
pub use connect_links::{ConnectLink, NewConnectLink};
pub use connections::{NewConnectionInput, PlainValue, SettingsInput};
pub(crate) use error::InvocationFailed;
pub use error::Kind;
pub use error::ServiceError;
pub(crate) use error::ServiceResult;
pub(crate) use live::LiveConnection;
pub use schedule::{Scheduler, SchedulerOptions};
pub use streams::{RunObserver, StartedRun, Trigger};
pub use webhooks::{
    DeliveryObserver, DeliveryOptions, DeliveryWorker, MAX_DELIVERY_BYTES, Receipt,
};

use crate::catalog::{Catalog, LoadReport, Lookup};
use crate::custody::StoredProviders;
use crate::egress::{Egress, EgressConfig, EgressLimits};
use crate::ingest::{IngestSink, PageStore, SqliteSink};
use crate::oauth::background::{self, BackgroundOptions, PassObserver, Refresher};
use crate::oauth::{OAuthHttp, ProviderResolver, RefreshObserver, RefreshPolicy, TokenManager};
use crate::registry::LoadedConnector;
use crate::runtime::RuntimeConfig;
use crate::store::{DatabaseUrl, HistoryRetention, QueueLimits, Store};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Total time one token, revocation or discovery request may take.
const OAUTH_TIMEOUT: Duration = Duration::from_secs(30);

/// How to set the services up.
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    pub data_dir: PathBuf,
    /// The store's database; `None`: `keyway.db` in the data directory.
    pub database: Option<DatabaseUrl>,
    /// Directories to find connectors in by key.
    pub connector_dirs: Vec<PathBuf>,
    pub egress: EgressConfig,
    pub egress_limits: EgressLimits,
    pub runtime: RuntimeConfig,
    /// How many deliveries (and bytes) a webhook may have waiting for its route.
    pub webhook_queue: QueueLimits,
    /// What the invocation history keeps.
    pub history: HistoryRetention,
    /// How long a connection's refresh lease lasts at most.
    pub refresh_lease: Duration,
    /// How long a stream's run lease lasts without a heartbeat (PostgreSQL).
    pub stream_lease: Duration,
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
            database: None,
            connector_dirs,
            egress: EgressConfig::default(),
            egress_limits: EgressLimits::default(),
            runtime,
            webhook_queue: QueueLimits::default(),
            history: HistoryRetention::default(),
            refresh_lease: RefreshPolicy::default().lease_ttl,
            stream_lease: crate::store::STREAM_LEASE,
        }
    }
}

pub struct Services {
    store: Arc<Store>,
    catalog: Arc<Catalog>,
    tokens: Arc<TokenManager>,
    providers: Arc<StoredProviders>,
    oauth_http: OAuthHttp,
    egress: Arc<Egress>,
    egress_limits: EgressLimits,
    ingest: Arc<dyn IngestSink>,
    /// Where stream runs commit their pages (records with their cursor).
    pages: Arc<dyn PageStore>,
    /// Sees every stream run this process finishes (the server's metrics).
    run_observer: std::sync::OnceLock<Arc<dyn streams::RunObserver>>,
    /// Woken when a webhook delivery is queued, so the worker does not wait its interval.
    deliveries_waiting: Arc<tokio::sync::Notify>,
    webhook_queue: QueueLimits,
    /// API keys and connections as route calls use them, kept current by the store's
    /// change generation.
    live: live::Live,
}

impl Services {
    /// Opens the store (creating the data directory and master key on first use) and
    /// sets up the rest. No component runtime is started until a route is run.
    pub fn open(config: ServicesConfig) -> ServiceResult<Services> {
        let store = Arc::new(Store::open_in(&config.data_dir, config.database.as_ref())?);
        store.set_history_retention(config.history);
        store.set_stream_lease(config.stream_lease);
        let egress = Arc::new(
            Egress::new(config.egress).map_err(|e| ServiceError::Egress(e.message.clone()))?,
        );
        // The host's own OAuth requests take the guests' egress: one address policy, one pool.
        let http = OAuthHttp::new(egress.clone(), OAUTH_TIMEOUT);
        let mut runtime_config = config.runtime;
        if runtime_config.cache_key.is_none() {
            runtime_config.cache_key = Some(store.component_cache_key().into());
        }
        let catalog = Arc::new(Catalog::new(config.connector_dirs.clone(), runtime_config));
        let providers = Arc::new(StoredProviders {
            catalog: catalog.clone(),
            store: store.clone(),
            resolver: Arc::new(ProviderResolver::new(http.clone())),
        });
        let tokens = Arc::new(TokenManager::new(
            store.clone(),
            http.clone(),
            providers.clone(),
            RefreshPolicy {
                lease_ttl: config.refresh_lease,
                ..RefreshPolicy::default()
            },
        ));
        let sink = Arc::new(SqliteSink::new(store.clone()));
        let ingest: Arc<dyn IngestSink> = sink.clone();
        Ok(Services {
            ingest,
            pages: sink,
            store,
            catalog,
            tokens,
            providers,
            oauth_http: http,
            egress,
            egress_limits: config.egress_limits,
            live: live::Live::new(),
            deliveries_waiting: Arc::new(tokio::sync::Notify::new()),
            webhook_queue: config.webhook_queue,
            run_observer: std::sync::OnceLock::new(),
        })
    }

    /// Loads every connector under the connector directories (the server does at
    /// start-up); one that cannot be loaded is reported and skipped.
    pub(crate) async fn load_connectors(&self) -> LoadReport {
        self.catalog.load_all().await
    }

    /// The loaded connector for a reference (a key; with [`Lookup::KeyOrPath`] also a
    /// connector directory), loaded once per version of its files.
    pub async fn connector(
        &self,
        reference: &str,
        lookup: Lookup,
    ) -> ServiceResult<Arc<LoadedConnector>> {
        Ok(self.catalog.connector(reference, lookup).await?)
    }

    /// Lets `observer` see every refresh outcome (the server's metrics).
    pub(crate) fn observe_refreshes(&self, observer: Arc<dyn RefreshObserver>) {
        self.tokens.observe(observer);
    }

    /// Starts the background refresher on the current runtime; it runs until the
    /// returned handle is dropped, and `observer` sees every pass.
    pub(crate) fn spawn_refresher(
        &self,
        opts: BackgroundOptions,
        observer: Arc<dyn PassObserver>,
    ) -> Refresher {
        background::spawn(self.tokens.clone(), opts, observer)
    }

    /// Writes the queued invocation history to disk.
    pub(crate) fn flush_history(&self) {
        self.store.flush_history();
    }

    /// The id of the live API key `key`; `None` for an unknown, wrong or revoked key.
    pub(crate) fn check_api_key(
        &self,
        key: &secrecy::SecretString,
    ) -> ServiceResult<Option<Arc<str>>> {
        self.live.check_api_key(&self.store, key)
    }
}
