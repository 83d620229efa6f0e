//! A connector's component made ready to serve: compiled (or taken from the cache),
//! linked against the host imports once (`InstancePre`), checked to implement the
//! `keyway:connector` world, and its route table read and validated.

use super::bindings::{ConnectorIndices, ConnectorPre, guest_routes, hooks};
use super::cache;
use super::engine::Runtime;
use super::error::LoadError;
use super::invoke::InvocationMeta;
use crate::context::ConnectionContext;
use crate::types::Method;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAuth {
    /// Over the HTTP API with an API key, and by the host.
    ApiKey,
    /// Only by the host (CLI, postConnect, testConnection).
    Internal,
}

impl RouteAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteAuth::ApiKey => "api_key",
            RouteAuth::Internal => "internal",
        }
    }
}

/// One entry of a connector's route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub path: String,
    pub auth: RouteAuth,
    /// `METHOD /path`, made once at load: every call's logs and history name the route
    /// by it, and a call builds no label of its own.
    pub label: Arc<str>,
}

const MAX_ROUTES: usize = 256;
const MAX_ROUTE_PATH: usize = 256;

/// A component ready for invocations. Cheap to share behind an `Arc`.
pub struct LoadedComponent {
    pub(crate) runtime: Runtime,
    pub(crate) key: String,
    pub(crate) pre: ConnectorPre<super::HostState>,
    /// The `connector` world's exports, looked up once.
    pub(crate) indices: ConnectorIndices,
    /// The `token-hooks` export, when the component has one.
    pub(crate) hooks: Option<hooks::guest::GuestIndices>,
    pub(crate) routes: Vec<Route>,
}

impl LoadedComponent {
    pub(crate) async fn load(
        runtime: Runtime,
        key: &str,
        origin: &Path,
        wasm: &[u8],
    ) -> Result<LoadedComponent, LoadError> {
        let inner = &runtime.inner;
        let component = cache::load_or_compile(
            &inner.engine,
            inner.config.cache_dir.as_deref(),
            inner.config.cache_key.as_ref(),
            wasm,
        )
        .map_err(|e| LoadError::NotAComponent {
            connector: key.to_string(),
            path: origin.to_path_buf(),
            reason: root_cause(&e),
        })?;
        let instance_pre =
            inner
                .linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::WrongWorld {
                    connector: key.to_string(),
                    reason: root_cause(&e),
                })?;
        let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
            connector: key.to_string(),
            reason: root_cause(&e),
        };
        let indices = ConnectorIndices::new(&instance_pre).map_err(wrong_world)?;
        // Optional: absent unless the connector supplies token hooks.
        let hooks = hooks::guest::GuestIndices::new(&instance_pre).ok();
        let pre = ConnectorPre::new(instance_pre).map_err(wrong_world)?;
        let mut loaded = LoadedComponent {
            runtime: runtime.clone(),
            key: key.to_string(),
            pre,
            indices,
            hooks,
            routes: Vec::new(),
        };
        let (raw, _calls, _redactor) = loaded
            .run(
                &ConnectionContext::empty(key),
                InvocationMeta::new("(route table)"),
                |store, guest| {
                    Box::pin(async move {
                        guest
                            .connector
                            .keyway_connector_routes()
                            .call_list_routes(store)
                            .await
                    })
                },
            )
            .await
            .map_err(|e| LoadError::RouteTable {
                connector: key.to_string(),
                reason: e.to_string(),
            })?;
        loaded.routes = validate_routes(key, raw)?;
        Ok(loaded)
    }

    /// The connector's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The route table, in the order the component declared it.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Whether the component exports the `token-hooks` interface.
    pub fn has_token_hooks(&self) -> bool {
        self.hooks.is_some()
    }
}

fn validate_routes(key: &str, raw: Vec<guest_routes::Route>) -> Result<Vec<Route>, LoadError> {
    let bad = |reason: String| LoadError::BadRoutes {
        connector: key.to_string(),
        reason,
    };
    if raw.is_empty() {
        return Err(bad("the component declares no routes".into()));
    }
    if raw.len() > MAX_ROUTES {
        return Err(bad(format!(
            "{} routes declared; at most {MAX_ROUTES} are allowed",
            raw.len()
        )));
    }
    let mut seen = BTreeSet::new();
    let mut routes = Vec::with_capacity(raw.len());
    for r in raw {
        let method = Method::from(r.method);
        let path = r.path;
        if !path.starts_with('/')
            || path.len() > MAX_ROUTE_PATH
            || path
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
        {
            return Err(bad(format!(
                "route path {path:?} must start with `/`, be at most {MAX_ROUTE_PATH} bytes, and contain no whitespace, `?` or `#`"
            )));
        }
        if !seen.insert((method, path.clone())) {
            return Err(bad(format!("route {method} {path} is declared twice")));
        }
        let auth = match r.auth {
            guest_routes::RouteAuth::ApiKey => RouteAuth::ApiKey,
            guest_routes::RouteAuth::Internal => RouteAuth::Internal,
        };
        let label = Arc::from(format!("{method} {path}"));
        routes.push(Route {
            method,
            path,
            auth,
            label,
        });
    }
    Ok(routes)
}

/// The innermost message of a wasmtime error chain, which names the actual problem.
pub(crate) fn root_cause(e: &wasmtime::Error) -> String {
    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    chain.join(": ")
}
