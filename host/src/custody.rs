//! Joins manifests to OAuth custody: finds a connection's connector, turns its manifest's
//! OAuth block and the connection's validated settings into a resolved
//! [`ProviderConfig`] (templates expanded, OIDC discovery applied), and adapts the token
//! manager to the token source an invocation's doors use.
//!
//! The catalog is the one place that decides which directory serves a connector key
//! ([`index`]): a key two directories declare is served by neither, and a directory named
//! later cannot take over a key already served from another.
//!
//! This module owns that translation. It must not validate manifests or settings itself
//! (the `manifest` module does) nor talk to token endpoints (the `oauth` module does).

mod index;

pub use index::{AmbiguousKey, ConnectorIndex, connector_dirs};

use crate::cli::connections::{ConnectorCatalog, RawSettings, ValidatedConnection};
use crate::egress::{BoxFuture, TokenError as DoorError, TokenErrorCode, TokenSource};
use crate::manifest::{self, Connector, LoadedManifest, MANIFEST_FILE, ValidSettings};
use crate::oauth::refresh::{ProviderError, ProviderSource, TokenError};
use crate::oauth::{OAuthHttp, OidcEndpoints, ProviderConfig, TokenManager, TokenPaths, discover};
use crate::store::{ConnectionRecord, Store};
use anyhow::{Context, anyhow, bail};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The connectors a host knows: directories to look keys up in, and what was loaded.
pub struct Catalog {
    search_dirs: Vec<PathBuf>,
    /// What the search directories hold, read on first use.
    index: OnceLock<ConnectorIndex>,
    http: OAuthHttp,
    /// By reference (as asked) and by key.
    manifests: Mutex<HashMap<String, Arc<LoadedManifest>>>,
    discovered: Mutex<HashMap<String, OidcEndpoints>>,
}

impl Catalog {
    /// A catalog that resolves connector keys in `search_dirs` (each a directory of
    /// connector directories, or a connector directory itself).
    pub fn new(search_dirs: Vec<PathBuf>, http: OAuthHttp) -> Catalog {
        Catalog {
            search_dirs,
            index: OnceLock::new(),
            http,
            manifests: Mutex::new(HashMap::new()),
            discovered: Mutex::new(HashMap::new()),
        }
    }

    /// The index of the search directories (read once).
    pub fn index(&self) -> &ConnectorIndex {
        self.index
            .get_or_init(|| ConnectorIndex::scan(&self.search_dirs))
    }

    /// The manifest for `reference`: a connector directory or manifest path, or the key
    /// of a connector under the search directories. A key more than one directory
    /// declares is refused, whichever way it is asked for, with an error naming them all.
    pub fn manifest(&self, reference: &str) -> anyhow::Result<Arc<LoadedManifest>> {
        if let Some(hit) = self.lock_manifests().get(reference) {
            return Ok(hit.clone());
        }
        let path = Path::new(reference);
        let loaded = if path.join(MANIFEST_FILE).is_file() || path.is_file() {
            self.index().check(manifest::load_dir_or_file(path)?)?
        } else {
            match self.index().by_key(reference)? {
                Some(found) => found,
                None => return Err(self.not_found(reference)),
            }
        };
        let key = loaded.connector.key().to_string();
        let mut cache = self.lock_manifests();
        // A directory outside the index may not take over a key already served.
        if let Some(served) = cache.get(&key)
            && index::canonical(&served.dir) != index::canonical(&loaded.dir)
        {
            return Err(AmbiguousKey {
                key,
                dirs: vec![served.dir.clone(), loaded.dir.clone()],
            }
            .into());
        }
        cache.insert(reference.to_string(), loaded.clone());
        cache.insert(key, loaded.clone());
        Ok(loaded)
    }

    fn lock_manifests(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LoadedManifest>>> {
        match self.manifests.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn not_found(&self, key: &str) -> anyhow::Error {
        let dirs: Vec<String> = self
            .search_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        anyhow!(
            "no connector `{key}`: not a connector directory, and no connector with that key under {}",
            if dirs.is_empty() {
                "(no --connectors directories)".to_string()
            } else {
                dirs.join(", ")
            }
        )
    }

    /// Validates raw settings (plain and secret) against the connector's manifest.
    pub fn validate_settings(
        &self,
        connector: &Connector,
        plain: &Map<String, Value>,
        secret: &BTreeMap<String, SecretString>,
    ) -> anyhow::Result<ValidSettings> {
        let mut raw = plain.clone();
        for (k, v) in secret {
            raw.insert(k.clone(), Value::String(v.expose_secret().to_string()));
        }
        connector.validate_settings(&raw).map_err(|e| {
            anyhow!(
                "settings for connector `{}` are invalid:\n{}",
                connector.key(),
                e.0.iter()
                    .map(|p| format!("  {}: {}", p.pointer, p.message))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
    }

    /// Validates settings for a new connection of `c` and splits them into what is stored
    /// in the clear and what is sealed. `plain` must not hold a secret setting.
    pub fn validated_connection(
        &self,
        c: &Connector,
        plain: &Map<String, Value>,
        secret: &BTreeMap<String, SecretString>,
    ) -> anyhow::Result<ValidatedConnection> {
        let valid = self.validate_settings(c, plain, secret)?;
        let mut out_plain = Map::new();
        let mut out_secret = BTreeMap::new();
        for (name, value) in valid.values() {
            if valid.is_secret(name) {
                let text = value
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| value.to_string());
                out_secret.insert(name.clone(), SecretString::from(text));
            } else {
                out_plain.insert(name.clone(), value.clone());
            }
        }
        Ok(ValidatedConnection {
            connector: c.key().to_string(),
            credential_key: c.oauth().map(|o| o.client.credential_key.clone()),
            settings: out_plain,
            secret_settings: out_secret,
        })
    }

    /// A stored connection's settings, validated: its plain settings, the parameters the
    /// provider returned on the authorization callback (for example `realmId`), and its
    /// secret settings.
    pub fn connection_settings(
        &self,
        connector: &Connector,
        record: &ConnectionRecord,
        secret: &BTreeMap<String, SecretString>,
    ) -> anyhow::Result<ValidSettings> {
        let mut plain = record.settings.clone();
        for (k, v) in &record.callback_params {
            plain
                .entry(k.clone())
                .or_insert_with(|| Value::String(v.clone()));
        }
        self.validate_settings(connector, &plain, secret)
    }

    /// The resolved OAuth configuration for a connector and validated settings; `None`
    /// when the manifest has no OAuth block.
    pub fn provider_config_for(
        &self,
        connector: &Connector,
        settings: &ValidSettings,
    ) -> anyhow::Result<Option<ProviderConfig>> {
        let Some(oauth) = connector.oauth() else {
            return Ok(None);
        };
        let expand = |what: &str, t: &manifest::UrlTemplate| {
            settings
                .expand(t)
                .with_context(|| format!("connector `{}`: expanding {what}", connector.key()))
        };
        let discovered = match &oauth.issuer_url {
            Some(issuer) => Some(self.discover(&expand("issuerUrl", issuer)?)?),
            None => None,
        };
        let token_url = match (&oauth.token_url, &discovered) {
            (Some(t), _) => expand("tokenUrlTemplate", t)?,
            (None, Some(d)) => d.token_endpoint.clone(),
            (None, None) => bail!(
                "connector `{}`: no token URL and no issuer to discover it",
                connector.key()
            ),
        };
        let mut config = ProviderConfig::new(oauth.flow, token_url);
        config.authorization_url = oauth
            .authorization_url
            .as_ref()
            .map(|t| expand("authorizationUrlTemplate", t))
            .transpose()?;
        config.revocation_url = oauth
            .revocation_url
            .as_ref()
            .map(|t| expand("revocationUrlTemplate", t))
            .transpose()?;
        if let Some(d) = &discovered {
            config.apply_discovery(d, false);
        }
        config.scopes = oauth.scopes.clone();
        config.required_scopes = crate::oauth::provider::required_scopes(&oauth.scopes);
        config.scope_separator = oauth.scope_separator.clone();
        config.access_type_offline =
            matches!(oauth.access_type, Some(manifest::AccessType::Offline));
        config.pkce = oauth.pkce;
        config.extra_authorize_params = oauth
            .extra_authorize_params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        config.client_auth = oauth.client.auth_method;
        config.token_paths = TokenPaths {
            access_token: oauth.token.access_token.0.join("."),
            refresh_token: oauth.token.refresh_token.0.join("."),
            expires_in: oauth.token.expires_in.0.join("."),
            scope: oauth.token.scope.0.join("."),
            token_type: oauth.token.token_type.0.join("."),
        };
        config.refresh_enabled = oauth.refresh_enabled;
        config.callback_params = oauth.callback_params.clone();
        Ok(Some(config))
    }

    /// OIDC discovery for `issuer`, once per issuer per process. Runs on a helper thread
    /// with its own small runtime, so it works from sync code inside any async runtime.
    fn discover(&self, issuer: &url::Url) -> anyhow::Result<OidcEndpoints> {
        let key = issuer.to_string();
        if let Some(hit) = self
            .discovered
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(hit);
        }
        let http = self.http.clone();
        let issuer_owned = issuer.clone();
        let found = std::thread::scope(|s| {
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(discover(&http, &issuer_owned))
                    .map_err(anyhow::Error::from)
            })
            .join()
            .map_err(|_| anyhow!("OIDC discovery for {issuer} panicked"))?
        })?;
        if let Ok(mut m) = self.discovered.lock() {
            m.insert(key, found.clone());
        }
        Ok(found)
    }

    /// The resolved configuration of a stored connection (its secret settings read from
    /// `store`).
    pub fn provider_config_of(
        &self,
        store: &Store,
        record: &ConnectionRecord,
    ) -> anyhow::Result<Option<ProviderConfig>> {
        let secrets = store.secret_settings(&record.id)?;
        ConnectorCatalog::provider_config(self, record, &secrets)
    }
}

impl ConnectorCatalog for Catalog {
    fn validate(
        &self,
        connector: &str,
        settings: RawSettings,
    ) -> anyhow::Result<ValidatedConnection> {
        let loaded = self.manifest(connector)?;
        let c = &loaded.connector;
        let mut plain = Map::new();
        let schema = &c.connection().settings_schema;
        for (name, value) in settings.plain {
            if schema.is_secret(&name) {
                bail!(
                    "--setting {name}: \"{name}\" is a secret setting; pass it from the environment or stdin, never in argv"
                );
            }
            let parsed = crate::cli::settings_args::parse_value(c, &name, &value);
            plain.insert(name, parsed);
        }
        self.validated_connection(c, &plain, &settings.secret)
    }

    fn provider_config(
        &self,
        connection: &ConnectionRecord,
        secret_settings: &BTreeMap<String, SecretString>,
    ) -> anyhow::Result<Option<ProviderConfig>> {
        let loaded = self.manifest(&connection.connector)?;
        let settings = self.connection_settings(&loaded.connector, connection, secret_settings)?;
        self.provider_config_for(&loaded.connector, &settings)
    }
}

/// The catalog and the store together answer the token manager's question: what is the
/// provider configuration of this stored connection?
pub struct StoredProviders {
    pub catalog: Arc<Catalog>,
    pub store: Arc<Store>,
}

impl ProviderSource for StoredProviders {
    fn provider_config<'a>(
        &'a self,
        connection: &'a ConnectionRecord,
    ) -> BoxFuture<'a, Result<Arc<ProviderConfig>, ProviderError>> {
        Box::pin(async move {
            match self.catalog.provider_config_of(&self.store, connection) {
                Ok(Some(config)) => Ok(Arc::new(config)),
                Ok(None) => Err(ProviderError::NoOAuth {
                    connector: connection.connector.clone(),
                }),
                // `{:#}` keeps the causes in the message, as an operator needs them.
                Err(e) => Err(ProviderError::Other(format!("{e:#}").into())),
            }
        })
    }
}

/// One connection's tokens as the doors see them: the cached or refreshed access token,
/// and a forced refresh that replaces exactly the token the provider rejected.
pub struct ConnectionTokens {
    manager: Arc<TokenManager>,
    connection_id: String,
    last_generation: AtomicI64,
}

impl ConnectionTokens {
    pub fn new(manager: Arc<TokenManager>, connection_id: &str) -> ConnectionTokens {
        ConnectionTokens {
            manager,
            connection_id: connection_id.to_string(),
            last_generation: AtomicI64::new(-1),
        }
    }
}

/// The door's view of a token manager error: the stable code the guest branches on
/// (`reauth_required` for a revoked grant or a connection that is not connected,
/// `missing_scopes`, `provider_unavailable`, `internal`) and the manager's message.
/// Public so that a token source seeded for tests reports exactly what custody would.
pub fn door_error(e: TokenError) -> DoorError {
    let code = match &e {
        TokenError::ReauthRequired { .. } | TokenError::NotConnected { .. } => {
            TokenErrorCode::ReauthRequired
        }
        TokenError::MissingScopes { .. } => TokenErrorCode::MissingScopes,
        TokenError::ProviderUnavailable { .. } => TokenErrorCode::ProviderUnavailable,
        TokenError::Config { .. } | TokenError::Store(_) => TokenErrorCode::Internal,
    };
    DoorError::new(code, e.to_string())
}

impl TokenSource for ConnectionTokens {
    fn token(&self, min_ttl: Duration) -> BoxFuture<'_, Result<String, DoorError>> {
        Box::pin(async move {
            let token = self
                .manager
                .access_token(&self.connection_id, min_ttl)
                .await
                .map_err(door_error)?;
            self.last_generation
                .store(token.generation, Ordering::SeqCst);
            Ok(token.expose().to_string())
        })
    }

    fn force_refresh(&self) -> BoxFuture<'_, Result<String, DoorError>> {
        Box::pin(async move {
            let rejected = self.last_generation.load(Ordering::SeqCst);
            let token = self
                .manager
                .force_refresh(&self.connection_id, rejected)
                .await
                .map_err(door_error)?;
            self.last_generation
                .store(token.generation, Ordering::SeqCst);
            Ok(token.expose().to_string())
        })
    }

    fn granted_scopes(&self) -> BoxFuture<'_, Result<Vec<String>, DoorError>> {
        Box::pin(async move {
            self.manager
                .granted_scopes(&self.connection_id)
                .map_err(door_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::index::test_connector;
    use super::*;

    fn catalog(dirs: Vec<PathBuf>) -> Catalog {
        let http = OAuthHttp::from_config(
            &crate::egress::EgressConfig::default(),
            Duration::from_secs(5),
        );
        Catalog::new(dirs, http.expect("http"))
    }

    #[test]
    fn every_way_of_asking_for_an_ambiguous_key_is_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        let strict = test_connector(root.path(), "strict", "dup");
        let shadow = test_connector(root.path(), "shadow", "dup");
        test_connector(root.path(), "other", "other");
        let c = catalog(vec![root.path().to_path_buf()]);
        for reference in [
            "dup".to_string(),
            strict.display().to_string(),
            shadow.display().to_string(),
        ] {
            let e = c.manifest(&reference).expect_err("ambiguous").to_string();
            assert!(e.contains(&strict.display().to_string()), "{e}");
            assert!(e.contains(&shadow.display().to_string()), "{e}");
        }
        assert_eq!(
            c.manifest("other").expect("unique").connector.key(),
            "other"
        );
    }

    #[test]
    fn a_directory_outside_the_search_dirs_cannot_take_over_a_served_key() {
        let root = tempfile::tempdir().expect("tempdir");
        let served = test_connector(&root.path().join("connectors"), "one", "one");
        let outsider = test_connector(root.path(), "elsewhere", "other-key");
        let c = catalog(vec![root.path().join("connectors")]);
        let by_key = c.manifest("one").expect("served");
        let by_dir = c.manifest(&served.display().to_string()).expect("same dir");
        assert!(Arc::ptr_eq(&by_key, &by_dir));
        // A connector outside the index is found by directory, then owns its key.
        assert!(c.manifest(&outsider.display().to_string()).is_ok());
        let late = test_connector(root.path(), "late", "other-key");
        let e = c
            .manifest(&late.display().to_string())
            .expect_err("second directory for the key");
        assert!(e.to_string().contains("other-key"), "{e}");
    }
}
