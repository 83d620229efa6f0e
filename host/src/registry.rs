//! Connectors made ready to run: a connector directory's validated manifest, its
//! component (compiled, linked, route table read), the check that the routes the manifest
//! names are exported, and the [`ConnectionContext`] an invocation gets from the manifest's
//! grants and a connection's validated settings, and the requests the host itself sends a
//! stream's or a webhook's route.
//!
//! This module owns finding a connector's component and joining manifest and component.
//! It must not validate manifests (the `manifest` module does) nor run routes (`runtime`).

use crate::context::{ConnectionContext, Grants};
use crate::egress::{self, Bindings, Egress, EgressLimits, InjectFormat, TokenSource, UrlPolicy};
use crate::ingest::IngestSink;
use crate::manifest::{
    self, ApiAuth, ApiSpec, AuthOption, Connector, HttpPattern, InjectRule, InjectShape,
    LoadedManifest, ManifestError, Stream, ValidSettings, Webhook,
};
use crate::runtime::{LoadError, LoadedComponent, RouteRequest, Runtime};
use http::HeaderName;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use url::Url;

/// The file a connector directory may hold its component in.
pub(crate) const COMPONENT_FILE: &str = "connector.wasm";

/// Why a connector cannot be loaded; each names the connector directory or manifest.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(
        "{dir}: no component found; build it with `scripts/build-connectors` (looked for {tried})",
        dir = dir.display()
    )]
    NoComponent { dir: PathBuf, tried: String },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{}: {problems}", path.display())]
    Routes { path: PathBuf, problems: String },
}

/// A connector ready to serve.
pub struct LoadedConnector {
    pub manifest: LoadedManifest,
    pub component_path: PathBuf,
    pub component: LoadedComponent,
    policy: Arc<dyn UrlPolicy>,
}

/// The request the host sends a stream's route for one run: `{"stream", "mode",
/// "trigger", "runId", "backfill"}` as JSON (the SDK's `SyncOptions` reads it).
pub fn stream_request(
    stream: &Stream,
    trigger: &str,
    run_id: &str,
    backfill: bool,
) -> RouteRequest {
    let body = serde_json::json!({
        "stream": stream.key,
        "mode": stream.mode.as_str(),
        "trigger": trigger,
        "runId": run_id,
        "backfill": backfill,
    });
    let mut req = RouteRequest::new(stream.route.method, stream.route.path.clone());
    req.headers
        .push(("content-type".into(), "application/json".into()));
    req.body = body.to_string().into_bytes();
    req
}

/// The request the host sends a webhook's route for one attempt at a delivery: the body,
/// the headers a route may see ([`crate::webhooks::route_headers`], already kept), and
/// `x-keyway-webhook`, `x-keyway-delivery` and `x-keyway-attempt`.
pub fn webhook_request(
    hook: &Webhook,
    kept_headers: Vec<(String, String)>,
    delivery_id: &str,
    attempt: u32,
    body: Vec<u8>,
) -> RouteRequest {
    let mut req = RouteRequest::new(hook.route.method, hook.route.path.clone());
    req.headers = kept_headers;
    req.headers
        .push(("x-keyway-webhook".into(), hook.key.clone()));
    req.headers
        .push(("x-keyway-delivery".into(), delivery_id.to_string()));
    req.headers
        .push(("x-keyway-attempt".into(), attempt.to_string()));
    req.body = body;
    req
}

impl LoadedConnector {
    pub fn connector(&self) -> &Connector {
        &self.manifest.connector
    }

    /// What the manifest grants invocations of a connection of this connector that
    /// authenticates with `auth`.
    pub fn grants(&self, auth: &AuthOption) -> Grants {
        let c = self.connector();
        let schema = &auth.settings_schema;
        let oauth = auth.oauth.as_ref();
        Grants {
            readable_secrets: c.permissions().secrets.iter().cloned().collect(),
            injectable_secrets: c.permissions().injectable_secrets.clone(),
            writable_entities: c
                .permissions()
                .entities
                .iter()
                .filter(|(_, write)| **write)
                .map(|(e, _)| e.clone())
                .collect(),
            secret_settings: schema.secret_names().map(str::to_string).collect(),
            expose_access_token: oauth.is_some_and(|o| o.expose_access_token),
            has_oauth: oauth.is_some(),
            readable_apps: c.permissions().readable_apps.clone(),
            injectable_apps: c.permissions().injectable_apps.clone(),
        }
    }

    /// The context for one connection: settings already validated against the manifest
    /// (schema and hostValidation), split into plain settings and secrets.
    pub fn context(
        &self,
        connection: Option<&str>,
        auth: &AuthOption,
        settings: &ValidSettings,
        doors: &Doors,
    ) -> ConnectionContext {
        let mut b = ConnectionContext::builder(self.connector().key())
            .grants(self.grants(auth))
            .http_policy(self.policy.clone())
            .bindings(self.bindings(auth, settings));
        if let Some(name) = connection {
            b = b.connection(name);
        }
        let (plain, secret) = settings.split();
        for (name, value) in plain {
            b = b.setting(&name, value);
        }
        for (name, value) in secret {
            b = b.secret(&name, value);
        }
        if let Some(egress) = &doors.egress {
            b = b.egress(egress.clone(), doors.egress_limits.clone());
        }
        if let Some(tokens) = &doors.tokens {
            b = b.tokens(tokens.clone());
        }
        b = b.app_tokens(doors.app_tokens.clone());
        if let Some(api) = &auth.api {
            b = b.api(bind_api(api, settings));
        }
        if let Some(ingest) = &doors.ingest {
            b = b.ingest(ingest.clone());
        }
        b.build()
    }
}

/// `connection.api` bound to one connection's settings: its base URL filled in (or why it
/// cannot be, named when a route uses it).
fn bind_api(api: &ApiSpec, settings: &ValidSettings) -> egress::ApiBase {
    egress::ApiBase {
        base: settings.expand(&api.base_url).map_err(|e| e.to_string()),
        headers: api.headers.clone(),
        auth: match &api.auth {
            ApiAuth::None => egress::Auth::None,
            ApiAuth::OAuth => egress::Auth::OAuth(egress::OAuthAuth {
                min_ttl_seconds: API_TOKEN_MIN_TTL_SECONDS,
            }),
            ApiAuth::Secret(name) => egress::Auth::Secret(name.clone()),
        },
    }
}

/// The least life left a token injected into an API request must have.
const API_TOKEN_MIN_TTL_SECONDS: u32 = 60;

impl LoadedConnector {
    /// The manifest's injection rules bound to one connection's validated settings. A
    /// rule whose URL cannot be expanded (a setting it names is missing) binds nothing
    /// and is listed as unbound, so refusals can say why.
    pub fn bindings(&self, auth: &AuthOption, settings: &ValidSettings) -> Bindings {
        let connection = self.connector().connection();
        let mut out = Bindings::default();
        let bind = |rule: &InjectRule, unbound: &mut Vec<String>| -> Option<egress::InjectRule> {
            let pattern = match settings.expand_pattern(&rule.url) {
                Ok(p) => p,
                Err(e) => {
                    unbound.push(format!("{}: {e}", rule.describe()));
                    return None;
                }
            };
            let header = HeaderName::from_bytes(rule.header.as_bytes()).ok()?;
            let format = match &rule.shape {
                InjectShape::Prefix(p) => InjectFormat::Prefix(p.clone()),
                InjectShape::Basic { password_secret } => InjectFormat::Basic {
                    password_secret: password_secret.clone(),
                },
            };
            Some(egress::InjectRule {
                describe: format!("{} ({})", rule.pointer, pattern),
                admits: Arc::new(ManifestPolicy(vec![pattern])),
                header,
                format,
            })
        };
        if let Some(oauth) = &auth.oauth {
            out.oauth = oauth
                .inject
                .iter()
                .filter_map(|r| bind(r, &mut out.unbound))
                .collect();
        }
        for (name, rules) in &auth.inject {
            let bound = rules
                .iter()
                .filter_map(|r| bind(r, &mut out.unbound))
                .collect();
            out.secrets.insert(name.clone(), bound);
        }
        for (name, rules) in &connection.app_inject {
            let bound = rules
                .iter()
                .filter_map(|r| bind(r, &mut out.unbound))
                .collect();
            out.apps.insert(name.clone(), bound);
        }
        out
    }
}

/// The shared backends an invocation's doors use.
#[derive(Clone, Default)]
pub struct Doors {
    pub egress: Option<Arc<Egress>>,
    pub egress_limits: EgressLimits,
    pub tokens: Option<Arc<dyn TokenSource>>,
    /// The app connections the manifest grants that the host defines, by name.
    pub app_tokens: egress::AppTokens,
    /// Where `ingest.batch` stores records.
    pub ingest: Option<Arc<dyn IngestSink>>,
}

/// The manifest's `permissions.http` as the egress layer's allowlist.
struct ManifestPolicy(Vec<HttpPattern>);

impl UrlPolicy for ManifestPolicy {
    fn allows(&self, url: &Url) -> bool {
        self.0.iter().any(|p| p.matches(url))
    }
}

/// Loads the connector at `path` (a directory or its `connector.json`): validates the
/// manifest, finds and loads the component (`component` overrides where it is), and checks
/// that the routes the manifest names are exported.
pub async fn load(
    runtime: &Runtime,
    path: &Path,
    component: Option<&Path>,
) -> Result<LoadedConnector, RegistryError> {
    let manifest = manifest::load_dir_or_file(path)?;
    let component_path = match component {
        Some(p) => p.to_path_buf(),
        None => find_component(&manifest.dir)?,
    };
    let loaded = runtime
        .load_component(manifest.connector.key(), &component_path)
        .await?;
    let exported: Vec<_> = loaded
        .routes()
        .iter()
        .map(|r| (r.method, r.path.clone()))
        .collect();
    let mut problems = manifest.connector.check_routes(&exported);
    problems.extend(
        manifest
            .connector
            .check_token_hooks(loaded.has_token_hooks()),
    );
    if !problems.is_empty() {
        let problems = problems
            .iter()
            .map(|p| format!("{}: {}", p.pointer, p.message))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(RegistryError::Routes {
            path: manifest.path.clone(),
            problems,
        });
    }
    let policy: Arc<dyn UrlPolicy> = Arc::new(ManifestPolicy(
        manifest.connector.permissions().http.clone(),
    ));
    Ok(LoadedConnector {
        manifest,
        component_path,
        component: loaded,
        policy,
    })
}

/// Where the component of the connector in `dir` is: `dir/connector.wasm`, else the
/// build output `target/wasm32-wasip2/component/<crate>.wasm` of the crate in `dir`,
/// looked up in `CARGO_TARGET_DIR` and in the `target/` of `dir` and its ancestors.
pub fn find_component(dir: &Path) -> Result<PathBuf, RegistryError> {
    let mut tried = vec![dir.join(COMPONENT_FILE)];
    if let Some(name) = crate_name(dir) {
        let file = format!("{}.wasm", name.replace('-', "_"));
        let rel = Path::new("wasm32-wasip2").join("component").join(&file);
        if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
            tried.push(PathBuf::from(target).join(&rel));
        }
        let abs = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        for ancestor in abs.ancestors() {
            tried.push(ancestor.join("target").join(&rel));
        }
    }
    if let Some(found) = tried.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    Err(RegistryError::NoComponent {
        dir: dir.to_path_buf(),
        tried: tried
            .iter()
            .take(3)
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The package name in `dir/Cargo.toml`, if there is one.
fn crate_name(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
    let doc: toml::Table = toml::from_str(&text).ok()?;
    doc.get("package")?
        .get("name")?
        .as_str()
        .map(str::to_string)
}
