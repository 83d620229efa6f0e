//! The token adapters between custody and the rest of the host: the token manager's
//! question "what is the provider configuration of this stored connection?" answered from
//! the catalog, the store and the resolver ([`StoredProviders`]), and one connection's
//! tokens as an invocation's doors see them ([`ConnectionTokens`], [`door_error`]), and a
//! loaded connector as the runner of its token hooks ([`ComponentHooks`]).
//!
//! Owns: those adapters and the mapping of token errors to the WIT door's codes.
//! Must not: validate manifests or settings (the `manifest` module does), resolve OAuth
//! blocks (`oauth::resolve`) or talk to token endpoints (`oauth`).

use crate::catalog::{Catalog, Lookup};
use crate::egress::{TokenDetails, TokenError as DoorError, TokenErrorCode, TokenSource};
use crate::oauth::hooks::HookRunner;
use crate::oauth::refresh::AccessToken;
use crate::oauth::{ProviderConfig, ProviderError, ProviderResolver, TokenError, TokenManager};
use crate::registry::LoadedConnector;
use crate::runtime::{HookContext, HookCredentials, HookError, HookGrant, HookRequest};
use crate::store::{ConnectionRecord, Store};
use crate::types::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// The catalog and the store together answer the token manager's question: what is the
/// provider configuration of this stored connection?
pub(crate) struct StoredProviders {
    pub catalog: Arc<Catalog>,
    pub store: Arc<Store>,
    pub resolver: Arc<ProviderResolver>,
}

impl StoredProviders {
    /// The resolved configuration of a stored connection (a connector's or an app
    /// connection); `None` when its connector has no OAuth block.
    pub async fn resolve(
        &self,
        connection: &ConnectionRecord,
    ) -> Result<Option<ProviderConfig>, ProviderError> {
        let other = |e: Box<dyn std::error::Error + Send + Sync>| ProviderError::Other(e);
        if connection.app {
            let app = self.store.app_connection_by_id(&connection.id)?;
            return self
                .resolver
                .resolve_app(&app)
                .await
                .map(Some)
                .map_err(|e| other(e.into()));
        }
        let manifest = self
            .catalog
            .manifest(&connection.connector, Lookup::KeyOrPath)
            .map_err(|e| other(e.into()))?;
        let secrets = self.store.secret_settings(&connection.id)?;
        let auth = manifest
            .connector
            .auth(connection.auth_option.as_deref())
            .map_err(|e| other(e.into()))?;
        let settings = auth
            .validate_parts(&connection.settings, &connection.callback_params, &secrets)
            .map_err(|e| other(e.into()))?;
        let mut config = self
            .resolver
            .resolve(&manifest.connector, auth, &settings)
            .await
            .map_err(|e| other(e.into()))?;
        // Token hooks run in the connector's component, loaded (once) from the catalog.
        if let Some(hooks) = config.as_mut().and_then(|c| c.hooks.as_mut()) {
            let loaded = self
                .catalog
                .connector(&connection.connector, Lookup::KeyOrPath)
                .await
                .map_err(|e| other(e.into()))?;
            hooks.runner = Some(Arc::new(ComponentHooks(loaded)));
        }
        Ok(config)
    }
}

/// A loaded connector's component as the runner of its token hooks.
pub(crate) struct ComponentHooks(pub Arc<LoadedConnector>);

impl HookRunner for ComponentHooks {
    fn request<'a>(
        &'a self,
        grant: HookGrant,
        ctx: &'a HookContext,
        redact: &'a [String],
    ) -> BoxFuture<'a, Result<HookRequest, HookError>> {
        Box::pin(self.0.component.token_request_hook(grant, ctx, redact))
    }

    fn credentials<'a>(
        &'a self,
        grant: HookGrant,
        status: u16,
        scrubbed_body: &'a str,
        redact: &'a [String],
    ) -> BoxFuture<'a, Result<HookCredentials, HookError>> {
        Box::pin(
            self.0
                .component
                .credentials_hook(grant, status, scrubbed_body, redact),
        )
    }
}

impl crate::oauth::ProviderSource for StoredProviders {
    fn provider_config<'a>(
        &'a self,
        connection: &'a ConnectionRecord,
    ) -> BoxFuture<'a, Result<Arc<ProviderConfig>, ProviderError>> {
        Box::pin(async move {
            match self.resolve(connection).await? {
                Some(config) => Ok(Arc::new(config)),
                None => Err(ProviderError::NoOAuth {
                    connector: connection.connector.clone(),
                }),
            }
        })
    }
}

/// One connection's tokens as the doors see them: the cached or refreshed access token,
/// and a forced refresh that replaces exactly the token the provider rejected.
pub(crate) struct ConnectionTokens {
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

impl ConnectionTokens {
    /// The manager's token, remembered as the one a later 401 would reject.
    async fn fetch(&self, min_ttl: Duration) -> Result<AccessToken, DoorError> {
        let token = self
            .manager
            .access_token(&self.connection_id, min_ttl)
            .await
            .map_err(door_error)?;
        self.last_generation
            .store(token.generation, Ordering::SeqCst);
        Ok(token)
    }
}

impl TokenSource for ConnectionTokens {
    fn token(&self, min_ttl: Duration) -> BoxFuture<'_, Result<String, DoorError>> {
        Box::pin(async move { Ok(self.fetch(min_ttl).await?.expose().to_string()) })
    }

    fn token_details(&self, min_ttl: Duration) -> BoxFuture<'_, Result<TokenDetails, DoorError>> {
        Box::pin(async move {
            let token = self.fetch(min_ttl).await?;
            Ok(TokenDetails {
                access_token: token.expose().to_string(),
                token_type: token.token_type.as_deref().map(str::to_string),
                expires_at: token.expires_at,
            })
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
