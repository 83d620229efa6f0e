//! What one route invocation may see and do: the connection's settings and secrets, the
//! grants its manifest gives, and the backends behind the doors that need the outside
//! world (OAuth tokens, outbound HTTP, ingest). Built once per connection and shared;
//! each invocation adds only its identity and counters.
//!
//! This module owns the shape of that context. It must not read the store or the
//! network itself: the backends do.

use crate::egress::{
    ApiBase, AppTokens, Bindings, Egress, EgressLimits, FnPolicy, SecretError, SecretSource,
    TokenSource, UrlPolicy,
};
use crate::ingest::{IngestSink, StreamRun, StreamState};
use crate::redact::{KeptRedactor, Redactor};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// How long one stream run may take: 15 minutes. A sync that needs longer stops at the
/// deadline and its next run resumes from its last checkpoint.
pub const STREAM_RUN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// What the connector's manifest grants it.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Secret settings the connector may read through `secrets.get`.
    pub readable_secrets: BTreeSet<String>,
    /// Secret settings the host may inject (`permissions.secrets.<name>: ["inject"]`),
    /// each only where its `connection.inject` rules admit.
    pub injectable_secrets: BTreeSet<String>,
    /// Entities the connector may write through `ingest.batch`.
    pub writable_entities: BTreeSet<String>,
    /// Names of every `x-secret` setting; `settings.get` refuses them.
    pub secret_settings: BTreeSet<String>,
    /// False in strict custody (`exposeAccessToken: false`): `oauth.access-token` refuses.
    pub expose_access_token: bool,
    /// True when the manifest has an OAuth block.
    pub has_oauth: bool,
    /// App connections whose token `oauth.access-token-for` may hand out.
    pub readable_apps: BTreeSet<String>,
    /// App connections whose token the host may inject (`auth: oauth-connection`).
    pub injectable_apps: BTreeSet<String>,
}

/// Everything an invocation of one connector for one connection can see. Cheap to clone.
#[derive(Clone)]
pub struct ConnectionContext {
    /// The connector's key (for logs and errors).
    pub connector: Arc<str>,
    /// The stored connection's name; `None` for an ad-hoc `keyway call`.
    pub connection: Option<Arc<str>>,
    /// Non-secret settings.
    pub settings: Arc<Map<String, Value>>,
    /// Secret settings by name.
    pub secrets: Arc<BTreeMap<String, SecretString>>,
    pub grants: Arc<Grants>,
    /// Knows every secret value above; applied to everything that leaves an invocation.
    pub redactor: Arc<Redactor>,
    /// The manifest's `permissions.http` allowlist.
    pub http_policy: Arc<dyn UrlPolicy>,
    /// Where each credential may be injected: the manifest's rules, bound to this
    /// connection's settings.
    pub bindings: Arc<Bindings>,
    /// Outbound HTTP; `None` refuses every request.
    pub egress: Option<Arc<Egress>>,
    pub egress_limits: Arc<EgressLimits>,
    /// The connection's OAuth tokens; `None` when there is no stored grant.
    pub tokens: Option<Arc<dyn TokenSource>>,
    /// The tokens of the app connections the manifest grants and the host defines.
    pub app_tokens: Arc<AppTokens>,
    /// The connector's API (`connection.api`) bound to this connection; `None` when the
    /// manifest declares none.
    pub api: Option<Arc<ApiBase>>,
    /// Where `ingest.batch` stores records; `None` refuses every batch.
    pub ingest: Option<Arc<dyn IngestSink>>,
    /// The stream run this invocation is, behind the `state` door; `None` (any other
    /// invocation) refuses it.
    pub stream: Option<Arc<dyn StreamState>>,
    /// This invocation's wall-clock limit when it is not the runtime's (a stream run's).
    pub deadline: Option<std::time::Duration>,
    /// The connection's redactor extended with the values the last invocation learned
    /// first (a token handed out or injected, in all its spellings), so the next one
    /// handed the same values does not build it again.
    pub learned: Arc<KeptRedactor>,
    /// The scrubber of the credential spellings last injected into a request, kept for
    /// the next request injected with the same ones.
    pub injected_scrubber: Arc<KeptRedactor>,
}

impl fmt::Debug for ConnectionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionContext")
            .field("connector", &self.connector)
            .field("connection", &self.connection)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("grants", &self.grants)
            .field("egress", &self.egress.is_some())
            .field("tokens", &self.tokens.is_some())
            .field("app_tokens", &self.app_tokens.keys().collect::<Vec<_>>())
            .field("ingest", &self.ingest.is_some())
            .field("stream", &self.stream.is_some())
            .finish()
    }
}

impl ConnectionContext {
    /// A context with no settings, no grants and no outside doors, for the connector `key`.
    pub fn empty(connector: &str) -> Self {
        ConnectionContext::builder(connector).build()
    }

    /// Starts a context for the connector `key`.
    pub fn builder(connector: &str) -> ContextBuilder {
        ContextBuilder {
            connector: Arc::from(connector),
            connection: None,
            settings: Map::new(),
            secrets: BTreeMap::new(),
            grants: Grants::default(),
            http_policy: None,
            bindings: Bindings::default(),
            egress: None,
            egress_limits: EgressLimits::default(),
            tokens: None,
            app_tokens: AppTokens::new(),
            api: None,
            ingest: None,
        }
    }

    /// This context for one run of a stream: records go to the run (held until the guest
    /// checkpoints), the `state` door answers from it, and the run may take up to
    /// [`STREAM_RUN_DEADLINE`] (a sync of many pages is no route call).
    pub fn for_stream_run(&self, run: Arc<StreamRun>) -> ConnectionContext {
        let mut ctx = self.clone();
        ctx.ingest = Some(run.clone());
        ctx.stream = Some(run);
        ctx.deadline = Some(STREAM_RUN_DEADLINE);
        ctx
    }

    /// `text` with every known secret value of this connection replaced by `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact_string(text)
    }
}

/// Builds a [`ConnectionContext`]; the redactor is derived from the secrets given.
pub struct ContextBuilder {
    connector: Arc<str>,
    connection: Option<Arc<str>>,
    settings: Map<String, Value>,
    secrets: BTreeMap<String, SecretString>,
    grants: Grants,
    http_policy: Option<Arc<dyn UrlPolicy>>,
    bindings: Bindings,
    egress: Option<Arc<Egress>>,
    egress_limits: EgressLimits,
    tokens: Option<Arc<dyn TokenSource>>,
    app_tokens: AppTokens,
    api: Option<ApiBase>,
    ingest: Option<Arc<dyn IngestSink>>,
}

impl ContextBuilder {
    /// The connector's API bound to this connection.
    pub fn api(mut self, api: ApiBase) -> Self {
        self.api = Some(api);
        self
    }

    pub fn connection(mut self, name: &str) -> Self {
        self.connection = Some(Arc::from(name));
        self
    }

    pub fn setting(mut self, name: &str, value: Value) -> Self {
        self.settings.insert(name.to_string(), value);
        self
    }

    pub fn settings(mut self, settings: Map<String, Value>) -> Self {
        self.settings.extend(settings);
        self
    }

    pub fn secret(mut self, name: &str, value: SecretString) -> Self {
        self.secrets.insert(name.to_string(), value);
        self
    }

    pub fn grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    pub fn http_policy(mut self, policy: Arc<dyn UrlPolicy>) -> Self {
        self.http_policy = Some(policy);
        self
    }

    /// The connection's injection rules.
    pub fn bindings(mut self, bindings: Bindings) -> Self {
        self.bindings = bindings;
        self
    }

    pub fn egress(mut self, egress: Arc<Egress>, limits: EgressLimits) -> Self {
        self.egress = Some(egress);
        self.egress_limits = limits;
        self
    }

    /// The app connections' tokens, by name.
    pub fn app_tokens(mut self, tokens: AppTokens) -> Self {
        self.app_tokens = tokens;
        self
    }

    pub fn tokens(mut self, tokens: Arc<dyn TokenSource>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Where `ingest.batch` stores records (needs a stored connection too).
    pub fn ingest(mut self, sink: Arc<dyn IngestSink>) -> Self {
        self.ingest = Some(sink);
        self
    }

    pub fn build(self) -> ConnectionContext {
        let redactor = Redactor::new(self.secrets.values().map(|s| s.expose_secret()));
        let deny_all: Arc<dyn UrlPolicy> = Arc::new(FnPolicy(|_: &url::Url| false));
        ConnectionContext {
            connector: self.connector,
            connection: self.connection,
            settings: Arc::new(self.settings),
            secrets: Arc::new(self.secrets),
            grants: Arc::new(self.grants),
            redactor: Arc::new(redactor),
            http_policy: self.http_policy.unwrap_or(deny_all),
            bindings: Arc::new(self.bindings),
            egress: self.egress,
            egress_limits: Arc::new(self.egress_limits),
            tokens: self.tokens,
            app_tokens: Arc::new(self.app_tokens),
            api: self.api.map(Arc::new),
            ingest: self.ingest,
            stream: None,
            deadline: None,
            learned: Arc::default(),
            injected_scrubber: Arc::default(),
        }
    }
}

/// The connection's secret settings as a source for injection: only those the manifest
/// grants `inject` (the egress layer also needs a rule admitting the URL). Whether the
/// guest may *read* one is the `secrets` door's question.
pub(crate) struct ContextSecrets<'a>(pub(crate) &'a ConnectionContext);

impl SecretSource for ContextSecrets<'_> {
    fn secret(&self, name: &str) -> Result<String, SecretError> {
        if !self.0.grants.injectable_secrets.contains(name) {
            return Err(SecretError::NotPermitted(name.to_string()));
        }
        match self.0.secrets.get(name) {
            Some(value) => Ok(value.expose_secret().to_string()),
            None if self.0.grants.secret_settings.contains(name) => {
                Err(SecretError::NotFound(name.to_string()))
            }
            None => Err(SecretError::NotPermitted(name.to_string())),
        }
    }
}
