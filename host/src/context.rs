//! What one route invocation may see and do: the connection's settings and secrets, the
//! grants its manifest gives, and the backends behind the doors that need the outside
//! world (OAuth, HTTP, ingest). Built once per connection and shared; each invocation
//! adds only its identity.
//!
//! This module owns the shape of that context. It must not read the store or the
//! network itself: the backends do.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// A secret value. Its `Debug` never prints the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The value, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([REDACTED])")
    }
}

/// What the connector's manifest grants it.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Secret settings the connector may read through `secrets.get`.
    pub readable_secrets: BTreeSet<String>,
    /// Entities the connector may write through `ingest.batch`.
    pub writable_entities: BTreeSet<String>,
    /// Names of every `x-secret` setting; `settings.get` refuses them.
    pub secret_settings: BTreeSet<String>,
    /// False in strict custody (`exposeAccessToken: false`): `oauth.access-token` refuses.
    pub expose_access_token: bool,
    /// True when the manifest has an OAuth block.
    pub has_oauth: bool,
}

/// Everything an invocation of one connector for one connection can see.
#[derive(Debug, Clone)]
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
}

impl ConnectionContext {
    /// A context with no settings and no grants, for the connector `key`.
    pub fn empty(connector: &str) -> Self {
        ConnectionContext {
            connector: Arc::from(connector),
            connection: None,
            settings: Arc::new(Map::new()),
            secrets: Arc::new(BTreeMap::new()),
            grants: Arc::new(Grants::default()),
        }
    }

    /// Every secret value this invocation knows, for redaction.
    pub fn secret_values(&self) -> impl Iterator<Item = &str> {
        self.secrets.values().map(SecretString::expose)
    }
}

impl ConnectionContext {
    /// `text` with every known secret value of this connection replaced by `[REDACTED]`.
    /// Values shorter than four characters are left alone so they do not shred ordinary text.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self.secret_values() {
            if secret.len() >= 4 && out.contains(secret) {
                out = out.replace(secret, "[REDACTED]");
            }
        }
        out
    }
}
