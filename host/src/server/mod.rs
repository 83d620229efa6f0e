//! `keyway serve`: the operator's HTTP server.
//!
//! Health and metrics are open; the management API (`/v1/connectors`, `/v1/connections`,
//! `/v1/credentials`) needs the admin key; route invocation
//! (`{METHOD} /v1/connections/{name}/routes/{path}`) needs an API key and reaches only
//! routes declared `api_key`; `/oauth/callback` completes authorizations. Every response
//! carries `x-request-id` (the caller's when it is short and plain, `request_id.rs`) and
//! every log line of a request is inside its span.
//!
//! Owns: start-up (connectors loaded and checked, bad ones skipped), the router, the
//! invocation slots, the background token refresher's life (started once serving, stopped
//! after the drain), and graceful shutdown (connections and their clocks: `conn.rs`).
//! Must not: run guest code outside [`crate::services::Services`], or log a request body,
//! query string, key or token.

mod admin;
mod answer;
mod app_connections;
pub mod auth;
mod body;
mod callback;
pub mod config;
mod conn;
mod connect_links;
mod console;
mod error;
mod health;
mod invoke;
pub mod metrics;
mod placement;
mod request_id;
mod returns;
mod slots;
mod streams;
mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::Request;
use axum::routing::{any, get, post, put};
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use url::Url;

pub(crate) use config::FileConfig;
pub(crate) use config::Overrides;
pub(crate) use config::ServeConfig;

use crate::catalog::LoadReport;
use crate::runtime::RuntimeConfig;
use crate::services::views::AuthorizedView;
use crate::services::{Services, ServicesConfig};
use auth::AdminKey;
use metrics::Metrics;
use request_id::REQUEST_ID;
use slots::Slots;

/// What every handler shares.
pub(crate) struct AppState {
    pub services: Arc<Services>,
    pub admin: AdminKey,
    pub metrics: Arc<Metrics>,
    pub config: ServeConfig,
    /// Base URL for the OAuth redirect URI.
    pub public_url: Url,
    /// What loaded at start-up (keys), and what was skipped and why.
    pub connectors: LoadReport,
    /// Invocation slots, in all and per API key; an invocation that finds none is
    /// refused at once (503, or 429 for a key at its share).
    pub slots: Slots,
    /// The runtime busy guest code runs on, apart from the one that accepts and answers
    /// requests, so busy guests delay the I/O of the front (health checks, 503s) by one
    /// slice at most (`placement.rs`).
    pub guests: tokio::runtime::Handle,
    pub draining: AtomicBool,
}

impl AppState {
    /// Runs `work` (anything that runs guest code) and waits for it: on the caller's task
    /// while it is the only invocation running and its guest is quick, on the guests'
    /// runtime otherwise (`placement.rs`). It finishes even if the caller goes away, so
    /// what it holds is released only then.
    pub(crate) async fn on_guests<F>(&self, work: F) -> Result<F::Output, error::ApiError>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let running = self.slots.busy();
        placement::Placed::new(work, self.guests.clone(), running)
            .await
            .map_err(|e| {
                // A host bug: its text stays in the server's log.
                tracing::error!(error = %e, "an invocation failed in the host");
                error::ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the invocation failed in the host; the server's log says why",
                )
            })
    }

    /// Runs the connector's `postConnect` step for the connection `answer` names on the
    /// guests' runtime and records its outcome in `answer`: the provider `account`, or a
    /// `postConnectError` (the connection stays authorized either way).
    pub async fn post_connect(&self, answer: &mut AuthorizedView) -> Result<(), error::ApiError> {
        let services = self.services.clone();
        let connection = answer.connection.clone();
        let post = self
            .on_guests(async move { services.post_connect(&connection).await })
            .await?;
        match post {
            Ok(account) => answer.account = account,
            Err(e) => {
                tracing::warn!(connection = %answer.connection, error = %e, "postConnect failed");
                answer.post_connect_error = Some(e.to_string());
            }
        }
        Ok(())
    }

    /// The redirect URI the provider sends the user back to.
    pub fn redirect_uri(&self) -> Result<Url, error::ApiError> {
        self.public_url.join(callback::CALLBACK_PATH).map_err(|e| {
            error::ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("building the OAuth redirect URI from the public URL: {e}"),
            )
        })
    }
}

fn router(state: Arc<AppState>) -> Router {
    let admin = Router::new()
        .route("/v1/connectors", get(admin::list_connectors))
        .route(
            "/v1/connections",
            get(admin::list_connections).post(admin::create_connection),
        )
        .route(
            "/v1/connections/{name}",
            get(admin::show_connection)
                .patch(admin::update_connection)
                .delete(admin::delete_connection),
        )
        .route("/v1/connections/{name}/authorize", post(admin::authorize))
        .route("/v1/connections/{name}/revoke", post(admin::revoke))
        .route("/v1/connections/{name}/test", post(admin::test))
        .route("/v1/connections/{name}/records", get(admin::records))
        .route(
            "/v1/connections/{name}/invocations",
            get(admin::invocations),
        )
        .route("/v1/credentials", get(admin::list_credentials))
        .route(
            "/v1/credentials/{key}",
            put(admin::set_credentials).delete(admin::delete_credentials),
        )
        .route(
            "/v1/app-connections",
            get(app_connections::list).post(app_connections::create),
        )
        .route(
            "/v1/app-connections/{name}",
            get(app_connections::show)
                .put(app_connections::replace)
                .delete(app_connections::delete),
        )
        .route(
            "/v1/app-connections/{name}/authorize",
            post(app_connections::authorize),
        )
        .route(
            "/v1/app-connections/{name}/revoke",
            post(app_connections::revoke),
        )
        .route("/v1/streams", get(streams::list))
        .route(
            "/v1/connections/{name}/streams/{key}/run",
            post(streams::run),
        )
        .route(
            "/v1/connections/{name}/streams/{key}/pause",
            post(streams::pause),
        )
        .route(
            "/v1/connections/{name}/streams/{key}/resume",
            post(streams::resume),
        )
        .route(
            "/v1/connections/{name}/streams/{key}/reset",
            post(streams::reset),
        )
        .route("/v1/runs", get(streams::runs))
        .route("/v1/runs/{id}", get(streams::show_run))
        .route("/v1/webhooks", get(webhooks::list))
        .route(
            "/v1/connections/{name}/webhooks/{key}/test",
            post(webhooks::test),
        )
        .route("/v1/webhook-deliveries", get(webhooks::deliveries))
        .route("/v1/webhook-deliveries/{id}/retry", post(webhooks::retry))
        .route("/v1/connect-sessions", post(connect_links::create))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    let routes = Router::new()
        .route("/v1/connections/{name}/routes/{*path}", any(invoke::invoke))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_api_key,
        ));
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<_>| {
            let id = req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!(
                "request",
                request_id = %id,
                method = %req.method(),
                path = %logged_path(req.uri().path()),
            )
        })
        .on_request(())
        .on_response(
            |res: &axum::http::Response<_>, latency: Duration, _span: &tracing::Span| {
                tracing::info!(
                    status = res.status().as_u16(),
                    duration_ms = latency.as_secs_f64() * 1000.0,
                    "answered"
                );
            },
        )
        .on_failure(());
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route(callback::CALLBACK_PATH, get(callback::callback))
        .route("/v1/webhooks/{connection}/{key}", post(webhooks::receive))
        .route(
            "/connect/{token}",
            get(connect_links::page).post(connect_links::start),
        )
        .route("/connect/{token}/done", get(connect_links::done))
        .merge(admin)
        .merge(routes)
        .merge(console::router())
        .fallback(health::not_found)
        .method_not_allowed_fallback(health::method_not_allowed)
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::from_fn(request_id::screen))
}

/// A request's path as the log records it: a connect link's token is a credential, so
/// only the shape of its path is kept.
fn logged_path(path: &str) -> &str {
    match path.strip_prefix("/connect/") {
        Some(rest) if rest.ends_with("/done") => "/connect/{token}/done",
        Some(_) => "/connect/{token}",
        None => path,
    }
}

/// Opens the services, loads every connector, and binds the listener.
async fn prepare(
    config: ServeConfig,
    guests: tokio::runtime::Handle,
) -> anyhow::Result<(Arc<AppState>, TcpListener)> {
    let mut services_config =
        ServicesConfig::new(config.data_dir.clone(), config.connector_dirs.clone());
    services_config.database = config.database.clone();
    services_config.runtime = RuntimeConfig {
        memory_limit: config.limits.memory_limit,
        deadline: config.limits.deadline,
        ..services_config.runtime
    };
    services_config.egress.allowed_cidrs = config.allow_private.clone();
    services_config.history = config.history;
    services_config.refresh_lease = config.refresh_lease;
    services_config.stream_lease = config.stream_lease;
    if let Some(sandbox) = config.sandbox {
        // The sandbox provider is on loopback. The address policy works on IP addresses,
        // so this admits every port of that address to connectors whose manifest
        // allowlists it; `serve --sandbox` is for a first run and local development.
        services_config
            .egress
            .allowed_cidrs
            .push(ipnet::IpNet::from(sandbox.ip()));
    }
    let services = Arc::new(Services::open(services_config)?);
    let metrics = Metrics::new();
    services.observe_refreshes(metrics.clone());
    services.observe_runs(metrics.clone());
    let admin = AdminKey::load_or_create(&config.data_dir)?;
    let connectors = services.load_connectors().await;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let bound = listener.local_addr()?;
    let public_url = match &config.public_url {
        Some(url) => url.clone(),
        None => Url::parse(&format!("http://{bound}/"))
            .with_context(|| format!("building a URL for {bound}"))?,
    };
    let slots = Slots::new(
        config.limits.max_concurrent,
        config.limits.max_concurrent_per_key,
    );
    let state = Arc::new(AppState {
        services,
        admin,
        metrics,
        public_url,
        connectors,
        slots,
        guests,
        draining: AtomicBool::new(false),
        config,
    });
    Ok((state, listener))
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Runs the server (and the sandbox provider, when configured) until SIGINT or SIGTERM,
/// then lets invocations in flight finish within the grace period.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let sandbox = match config.sandbox {
        Some(addr) => Some(crate::devprovider::start(addr).await?),
        None => None,
    };
    let guests = tokio::runtime::Builder::new_multi_thread()
        .thread_name("keyway-guest")
        // Guests yield every epoch tick; look at I/O (outbound calls) on every yield.
        .event_interval(1)
        .enable_all()
        .build()
        .context("starting the guests' runtime")?;
    let result = serve(config, sandbox, guests.handle().clone()).await;
    guests.shutdown_background();
    result
}

async fn serve(
    config: ServeConfig,
    sandbox: Option<crate::devprovider::Sandbox>,
    guests: tokio::runtime::Handle,
) -> anyhow::Result<()> {
    let (state, listener) = prepare(config, guests).await?;
    let bound = listener.local_addr()?;
    if let Some(sb) = &sandbox {
        let dev = sb.credentials();
        state
            .services
            .set_credentials(dev.key, dev.client_id, Some(dev.client_secret))
            .context("storing the sandbox provider's client credentials")?;
        println!("sandbox provider on http://{}", sb.addr());
    }
    println!("keyway listening on http://{bound}");
    println!("admin key: {}", state.admin.origin);
    for s in &state.connectors.skipped {
        println!("skipped connector {}: {}", s.dir.display(), s.error);
    }
    tracing::info!(
        listen = %bound,
        connectors = state.connectors.loaded.len(),
        skipped = state.connectors.skipped.len(),
        "keyway serving"
    );
    // On the guests' runtime: a pass reads SQLite, which must not hold up the front's
    // I/O. Stopped when dropped.
    let refresher = {
        let _runtime = state.guests.enter();
        state
            .services
            .spawn_refresher(state.config.refresh.clone(), state.metrics.clone())
    };
    // The stream scheduler, on the guests' runtime too; stopped after the drain.
    let scheduler = state.config.streams.map(|options| {
        let _runtime = state.guests.enter();
        crate::services::Scheduler::new(state.services.clone(), options).spawn()
    });
    // The webhook delivery worker, on the guests' runtime; stopped after the drain.
    let deliveries = {
        let _runtime = state.guests.enter();
        crate::services::DeliveryWorker::new(
            state.services.clone(),
            crate::services::DeliveryOptions::default(),
            Some(state.metrics.clone()),
        )
        .context("starting the webhook delivery worker")?
        .spawn()
    };
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let drain_state = state.clone();
    let app = router(state.clone());
    let timeouts = conn::Timeouts {
        header: state.config.limits.header_read_timeout,
        idle: state.config.limits.idle_timeout,
    };
    let server = tokio::spawn(conn::serve(listener, app, timeouts, async move {
        shutdown_signal().await;
        drain_state.draining.store(true, Ordering::SeqCst);
        tracing::info!("shutting down: no new connections; finishing requests in flight");
        let _ = started_tx.send(());
    }));
    tokio::pin!(server);
    tokio::select! {
        done = &mut server => {
            state.services.flush_history();
            done.context("the server task failed")?;
            return Ok(());
        }
        _ = started_rx => {}
    }
    let grace = state.config.limits.shutdown_grace;
    match tokio::time::timeout(grace, &mut server).await {
        Ok(done) => {
            done.context("the server task failed")?;
            tracing::info!("shut down cleanly");
        }
        Err(_) => {
            let busy = state.slots.busy();
            tracing::warn!(
                in_flight = busy,
                grace_seconds = grace.as_secs(),
                "grace period over; stopping with invocations still running"
            );
        }
    }
    // No refresh or stream run starts once the invocations in flight are done or given
    // up on. A run cut short here resumes from its last checkpoint at the next start.
    drop(refresher);
    if let Some(scheduler) = scheduler {
        scheduler.abort();
    }
    deliveries.abort();
    // The history of every finished invocation is on disk before the process exits.
    state.services.flush_history();
    Ok(())
}
