//! Token hooks: a connector's own code (`wit/token-hooks.wit`), run in the sandbox, shapes
//! the token requests of a provider whose token endpoint is not standard, while the host
//! keeps custody of every secret.
//!
//! The flow of one exchange (`exchange.rs`): the request hook gets non-secret context and
//! answers a request with placeholders; the host checks and fills it (`fill.rs`) and sends
//! it through its own HTTP path; a 2xx answer is scrubbed of every secret (`scrub.rs`)
//! before `credentials-from-token-response` reads it, and the paths it names are read
//! from the real answer (`credentials.rs`); on refresh, what the answer omits keeps its
//! stored value (`merge.rs`). A hook without a declaration is not called: the standard
//! request, or the manifest's token paths, are used instead.
//!
//! Owns: `TokenHooks` (what a provider configuration carries about its hooks) and the
//! `HookRunner` seam through which the hooks are called (custody supplies the component).
//! Must not: give a hook a secret, put a secret in a URL, error or log line, or store
//! anything from an exchange whose hook failed.

pub mod credentials;
mod exchange;
pub mod fill;
pub mod merge;
pub mod scrub;

use std::sync::Arc;

use crate::runtime::{HookContext, HookCredentials, HookError, HookGrant, HookRequest};
use crate::types::{BoxFuture, TokenHook};

pub use credentials::Hooked;
pub(crate) use exchange::{Grant, exchange};

/// Calls a connector's token hooks (its component, in the host; a fake in tests).
pub trait HookRunner: Send + Sync {
    /// Runs `tokenRequest` or `refreshRequest`. `redact` holds the exchange's secrets,
    /// which the hook is not given: only for replacing in its output.
    fn request<'a>(
        &'a self,
        grant: HookGrant,
        ctx: &'a HookContext,
        redact: &'a [String],
    ) -> BoxFuture<'a, Result<HookRequest, HookError>>;

    /// Runs `credentialsFromTokenResponse` on a scrubbed answer; `redact` as above.
    fn credentials<'a>(
        &'a self,
        grant: HookGrant,
        status: u16,
        scrubbed_body: &'a str,
        redact: &'a [String],
    ) -> BoxFuture<'a, Result<HookCredentials, HookError>>;
}

/// A provider configuration's token hooks: which the manifest declares, what they may
/// read, which settings they may return, and (once custody attached it) how to call them.
#[derive(Clone)]
pub struct TokenHooks {
    pub connector: String,
    pub declared: Vec<TokenHook>,
    /// The connection's non-secret settings (strings as they are, other values as JSON).
    pub settings: Vec<(String, String)>,
    /// Settings an extra may name: plain string properties of `settingsSchema`.
    pub extras_allowed: Vec<String>,
    pub runner: Option<Arc<dyn HookRunner>>,
}

impl std::fmt::Debug for TokenHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenHooks")
            .field("connector", &self.connector)
            .field("declared", &self.declared)
            .field(
                "settings",
                &self.settings.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("extras_allowed", &self.extras_allowed)
            .field("runner", &self.runner.is_some())
            .finish()
    }
}

impl TokenHooks {
    /// Whether the manifest declares `hook`.
    pub fn uses(&self, hook: TokenHook) -> bool {
        self.declared.contains(&hook)
    }
}

/// The hooks of `connector` for a connection that authenticates with `auth` and has
/// `settings`: what they may read (its non-secret settings) and which settings they may
/// return (plain string properties of that way's settings schema). Custody attaches the
/// runner.
pub(crate) fn plan(
    connector: &crate::manifest::Connector,
    auth: &crate::manifest::AuthOption,
    declared: &[TokenHook],
    settings: &crate::manifest::ValidSettings,
) -> TokenHooks {
    let schema = &auth.settings_schema;
    let plain = settings
        .values()
        .iter()
        .filter(|(name, _)| !settings.is_secret(name) && !schema.is_secret(name))
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (name.clone(), text)
        })
        .collect();
    let extras_allowed = schema
        .properties()
        .iter()
        .filter(|(_, info)| !info.secret && info.string)
        .map(|(name, _)| name.clone())
        .collect();
    TokenHooks {
        connector: connector.key().to_string(),
        declared: declared.to_vec(),
        settings: plain,
        extras_allowed,
        runner: None,
    }
}
