//! [`TestRuntime`]: one connection of one connector, set up from the builder's settings,
//! secrets, seeded OAuth state and seeded app connections, whose route calls run through the host's real
//! invocation path with the mock provider, the seeded tokens and an in-memory record
//! store behind the doors.
//!
//! This module owns the builder and the call API. It must not re-implement a host check:
//! settings go through the manifest's validation, the context through
//! `LoadedConnector::context`, and calls through `LoadedComponent::invoke`.

use crate::Error;
use crate::apps::{self, Seeded};
use crate::http::{MockHttp, MockTransport};
use crate::ingest::{IngestView, RecordingSink};
use crate::logs;
use crate::oauth::SeededTokens;
use crate::seed::OAuthState;
use crate::shared;
use crate::streams::{StreamCall, WebhookCall};
use keyway_host::context::ConnectionContext;
use keyway_host::egress::{Egress, EgressConfig, EgressLimits, TokenSource};
use keyway_host::ingest::IngestSink;
use keyway_host::registry::{Doors, LoadedConnector};
use keyway_host::runtime::RouteRequest;
use keyway_host::types::Method;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::Instrument as _;

/// The connection name used when the builder names none.
pub const DEFAULT_CONNECTION: &str = "test";

/// Sets up a [`TestRuntime`]; see [`TestRuntime::builder`].
#[derive(Debug)]
pub struct TestRuntimeBuilder {
    dir: PathBuf,
    settings: Map<String, Value>,
    secrets: Vec<(String, String)>,
    connection: String,
    oauth: Option<OAuthState>,
    auth_option: Option<String>,
    apps: Vec<(String, OAuthState)>,
    limits: EgressLimits,
}

impl TestRuntimeBuilder {
    /// A plain (non-secret) setting; validated with the manifest's `settingsSchema` and
    /// `hostValidation` at [`build`](Self::build).
    pub fn setting(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.settings.insert(name.to_string(), value.into());
        self
    }

    /// A secret setting (`x-secret: true` in the schema). The host redacts its value from
    /// everything an invocation logs or returns.
    pub fn secret(mut self, name: &str, value: impl Into<String>) -> Self {
        self.secrets.push((name.to_string(), value.into()));
        self
    }

    /// The connection's name (default `test`); ingest keys records by it.
    pub fn connection(mut self, name: &str) -> Self {
        self.connection = name.to_string();
        self
    }

    /// The auth option (`connection.authOptions`) the connection uses: its settings,
    /// OAuth block, injection rules and API apply. Required for a connector with options,
    /// refused for one without.
    pub fn auth_option(mut self, name: &str) -> Self {
        self.auth_option = Some(name.to_string());
        self
    }

    /// The seeded OAuth grant (default [`OAuthState::none`] for a connector with
    /// `connection.oauth`, or an auth option with an OAuth block).
    pub fn oauth(mut self, state: OAuthState) -> Self {
        self.oauth = Some(state);
        self
    }

    /// Seeds the app connection `name` as the operator would define and authorize it
    /// (`keyway app-connections create`): its token, type, expiry and granted scopes, and
    /// what each refresh gets, from `state` (`.required_scopes(..)` does not apply: the
    /// host requires none of an app connection).
    ///
    /// Routes reach it through the host's doors as on a real host: only when the
    /// manifest grants `name` in `permissions.connections` (`["token"]` to read it with
    /// `access_token`, `["inject"]` for the host to inject it where a
    /// `connection.appInject` rule admits the URL). An ungranted name stays
    /// `not_permitted` even when seeded here; a granted name not seeded is `not_found`.
    /// [`build`](Self::build) refuses a name the host's rule refuses, or one seeded twice.
    pub fn with_app_connection(mut self, name: &str, state: OAuthState) -> Self {
        self.apps.push((name.to_string(), state));
        self
    }

    /// Egress caps for this runtime (default: the host's defaults).
    pub fn egress_limits(mut self, limits: EgressLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Builds the connector's component (once per process), loads it with the host's
    /// manifest validation, validates the settings and wires the doors.
    pub fn build(self) -> Result<TestRuntime, Error> {
        logs::install().map_err(Error::Setup)?;
        let connector = shared::connector(&self.dir)?;
        let manifest = connector.connector();
        let auth = manifest
            .auth(self.auth_option.as_deref())
            .map_err(|e| Error::Setup(e.to_string()))?;
        let schema = &auth.settings_schema;
        let mut raw = self.settings.clone();
        for name in self.settings.keys() {
            if schema.is_secret(name) {
                return Err(Error::Setup(format!(
                    "`{name}` is a secret setting (x-secret); give it with .secret(..)"
                )));
            }
        }
        for (name, value) in &self.secrets {
            if schema.property(name).is_some() && !schema.is_secret(name) {
                return Err(Error::Setup(format!(
                    "`{name}` is not a secret setting; give it with .setting(..)"
                )));
            }
            raw.insert(name.clone(), Value::String(value.clone()));
        }
        let settings = auth.validate_settings(&raw).map_err(|e| Error::Settings {
            connector: manifest.key().to_string(),
            problems: e
                .0
                .iter()
                .map(|p| format!("  {}: {}", p.pointer, p.message))
                .collect::<Vec<_>>()
                .join("\n"),
        })?;
        let tokens = match (auth.oauth.as_ref(), self.oauth) {
            (Some(oauth), state) => Some(Arc::new(
                SeededTokens::new(
                    &self.connection,
                    oauth,
                    state.unwrap_or_else(OAuthState::none),
                )
                .map_err(Error::Setup)?,
            )),
            (None, Some(_)) => {
                return Err(Error::Setup(format!(
                    "connector `{}` declares no OAuth block{}; drop .oauth(..)",
                    manifest.key(),
                    auth.name
                        .as_deref()
                        .map(|n| format!(" in auth option `{n}`"))
                        .unwrap_or_default()
                )));
            }
            (None, None) => None,
        };
        let (apps, app_tokens) = apps::seed(self.apps, manifest.permissions())?;
        let http = Arc::new(MockHttp::default());
        let ingest = Arc::new(RecordingSink::default());
        let egress = Egress::with_transport(
            EgressConfig::default(),
            Arc::new(MockTransport(http.clone())),
        );
        let doors = Doors {
            egress: Some(Arc::new(egress)),
            egress_limits: self.limits,
            tokens: tokens.clone().map(|t| t as Arc<dyn TokenSource>),
            app_tokens,
            ingest: Some(ingest.clone() as Arc<dyn IngestSink>),
        };
        let context = connector.context(Some(&self.connection), auth, &settings, &doors);
        Ok(TestRuntime {
            connector,
            connection: self.connection,
            context,
            http,
            ingest,
            tokens,
            apps,
            tag: logs::next_tag(),
        })
    }
}

/// A route's answer.
#[derive(Debug, Clone)]
pub struct RouteResult {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The host's id of the invocation (it appears in the invocation's log lines).
    pub invocation_id: String,
}

impl RouteResult {
    /// The body as JSON; a body that is not JSON comes back as a JSON string of its text,
    /// so an assertion on a field fails showing what the route said.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One connection of a connector, ready to call.
pub struct TestRuntime {
    connector: Arc<LoadedConnector>,
    connection: String,
    context: ConnectionContext,
    http: Arc<MockHttp>,
    ingest: Arc<RecordingSink>,
    tokens: Option<Arc<SeededTokens>>,
    apps: Seeded,
    tag: u64,
}

impl std::fmt::Debug for TestRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRuntime")
            .field("connector", &self.connector.connector().key())
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl Drop for TestRuntime {
    fn drop(&mut self) {
        logs::forget(self.tag);
    }
}

impl TestRuntime {
    /// Starts a runtime for the connector crate in `dir` (usually
    /// `env!("CARGO_MANIFEST_DIR")`): its `connector.json` and its crate, compiled with
    /// `cargo build --profile component --target wasm32-wasip2`.
    pub fn builder(dir: impl AsRef<Path>) -> TestRuntimeBuilder {
        TestRuntimeBuilder {
            dir: dir.as_ref().to_path_buf(),
            settings: Map::new(),
            secrets: Vec::new(),
            connection: DEFAULT_CONNECTION.to_string(),
            auth_option: None,
            oauth: None,
            apps: Vec::new(),
            limits: EgressLimits::default(),
        }
    }

    /// Calls the route `method path` (`path` may carry a `?query`) with `body` as JSON
    /// (`Value::Null` sends no body).
    pub fn call(&self, method: &str, path: &str, body: Value) -> Result<RouteResult, Error> {
        let method = Method::parse(method).ok_or_else(|| {
            Error::Request(format!(
                "`{method}` is not a route method (GET, POST, PUT, PATCH, DELETE)"
            ))
        })?;
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (
                p,
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect(),
            ),
            None => (path, Vec::new()),
        };
        let mut req = RouteRequest::new(method, path);
        req.query = query;
        if !body.is_null() {
            req.body = body.to_string().into_bytes();
            req.headers
                .push(("content-type".into(), "application/json".into()));
        }
        self.invoke_in(&self.context, req)
    }

    /// Runs `req` with `ctx` (this connection's context, or one derived from it).
    pub(crate) fn invoke_in(
        &self,
        ctx: &ConnectionContext,
        req: RouteRequest,
    ) -> Result<RouteResult, Error> {
        let span = tracing::info_span!(logs::SPAN_NAME, runtime = self.tag);
        let component = &self.connector.component;
        let res = shared::block_on(component.invoke(ctx, req).instrument(span))?.map_err(|e| {
            Error::Invoke {
                code: e.code().to_string(),
                message: ctx.redact(&e.to_string()),
            }
        })?;
        Ok(RouteResult {
            status: res.status,
            headers: res.headers,
            body: res.body,
            invocation_id: res.invocation_id,
        })
    }

    /// The manifest stream `key`, to run as the host's scheduler would: from a seeded
    /// cursor, with checkpoints committed as the host commits them.
    pub fn stream(&self, key: &str) -> Result<StreamCall<'_>, Error> {
        let manifest = self.connector.connector();
        let stream = manifest.stream(key).cloned().ok_or_else(|| {
            Error::Request(format!(
                "connector `{}` has no stream `{key}` (it has: {})",
                manifest.key(),
                names(manifest.streams().iter().map(|s| s.key.as_str()))
            ))
        })?;
        Ok(StreamCall { rt: self, stream })
    }

    /// The manifest webhook `key`, to deliver to as a provider would.
    pub fn webhook(&self, key: &str) -> Result<WebhookCall<'_>, Error> {
        let manifest = self.connector.connector();
        let hook = manifest.webhook(key).cloned().ok_or_else(|| {
            Error::Request(format!(
                "connector `{}` has no webhook `{key}` (it has: {})",
                manifest.key(),
                names(manifest.webhooks().iter().map(|w| w.key.as_str()))
            ))
        })?;
        Ok(WebhookCall { rt: self, hook })
    }

    pub(crate) fn sink(&self) -> &Arc<RecordingSink> {
        &self.ingest
    }

    pub(crate) fn connection(&self) -> &str {
        &self.connection
    }

    /// Calls the manifest's `connection.testConnection` route.
    pub fn test_connection(&self) -> Result<RouteResult, Error> {
        let route = self
            .connector
            .connector()
            .connection()
            .test_connection
            .clone()
            .ok_or_else(|| {
                Error::Setup(format!(
                    "connector `{}` declares no connection.testConnection",
                    self.connector.connector().key()
                ))
            })?;
        self.call(route.method.as_str(), &route.path, Value::Null)
    }

    /// The mock provider: queue answers, inspect calls.
    pub fn http(&self) -> &MockHttp {
        &self.http
    }

    /// What the routes ingested.
    pub fn ingest(&self) -> IngestView<'_> {
        IngestView(&self.ingest)
    }

    /// Every log line of this runtime's route calls so far (guest `log` door, guest
    /// stdout and stderr, host events), as the host wrote them: already redacted.
    pub fn logs(&self) -> Vec<String> {
        logs::lines(self.tag)
    }

    /// How many refreshes reached the seeded token endpoint.
    pub fn token_requests(&self) -> usize {
        self.tokens.as_ref().map_or(0, |t| t.requests())
    }

    /// Seeded refresh outcomes no refresh has used.
    pub fn unused_refresh_outcomes(&self) -> usize {
        self.tokens.as_ref().map_or(0, |t| t.unused_outcomes())
    }

    /// How many refreshes reached the seeded token endpoint of app connection `name` (0
    /// for a name not seeded).
    pub fn app_token_requests(&self, name: &str) -> usize {
        self.apps.get(name).map_or(0, |t| t.requests())
    }

    /// Seeded refresh outcomes of app connection `name` no refresh has used.
    pub fn unused_app_refresh_outcomes(&self, name: &str) -> usize {
        self.apps.get(name).map_or(0, |t| t.unused_outcomes())
    }

    /// The host's invocation context (grants, redactor) of this connection.
    pub fn context(&self) -> &ConnectionContext {
        &self.context
    }
}

fn names<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = items.collect();
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}
