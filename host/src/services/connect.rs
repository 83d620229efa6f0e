//! Connecting and disconnecting stored connections: starting an authorization (or
//! connecting at once with client credentials), completing it from the provider's
//! callback, and revoking.
//!
//! Owns: resolving a connection's provider configuration and app credentials for those
//! three steps.
//! Must not: decide anything the `oauth` module decides (state, PKCE, exchange, storage),
//! or put a code, verifier, token or client secret into a result or error.

use url::Url;

use super::{ServiceError, ServiceResult, Services};
use crate::oauth::{
    self, AuthorizationOutcome, AuthorizationRequest, CallbackParams, GrantType, ProviderConfig,
    ProviderRevocation,
};
use crate::store::{ClientCredentials, ConnectionRecord, StoreError};

/// How an authorization started.
#[derive(Debug)]
pub enum AuthorizationStart {
    /// Send the user to the provider; the callback completes it.
    Redirect(AuthorizationRequest),
    /// Client credentials: connected already.
    Connected(AuthorizationOutcome),
}

/// The connection a callback must belong to, when the caller knows it.
#[derive(Debug, Clone, Copy)]
pub enum Expected<'a> {
    /// A connector connection, by name.
    Connection(&'a str),
    /// An app connection, by name.
    App(&'a str),
}

/// A completed authorization: the connection's name, whether it is an app connection (no
/// connector, so no `postConnect` to run), and what was stored.
#[derive(Debug)]
pub struct Completed {
    pub name: String,
    pub app: bool,
    pub outcome: AuthorizationOutcome,
}

struct Resolved {
    record: ConnectionRecord,
    provider: ProviderConfig,
}

impl Services {
    async fn resolve_oauth(&self, record: ConnectionRecord) -> ServiceResult<Resolved> {
        let provider =
            self.providers
                .resolve(&record)
                .await?
                .ok_or_else(|| ServiceError::NotOAuth {
                    connection: record.name.clone(),
                })?;
        Ok(Resolved { record, provider })
    }

    fn app_credentials(&self, record: &ConnectionRecord) -> ServiceResult<ClientCredentials> {
        let key =
            record
                .credential_key
                .as_deref()
                .ok_or_else(|| ServiceError::NoCredentialKey {
                    connection: record.name.clone(),
                })?;
        self.store.credentials(key).map_err(|e| match e {
            StoreError::NotFound { .. } => ServiceError::MissingCredentials {
                key: key.to_string(),
            },
            other => other.into(),
        })
    }

    /// Starts authorizing the connection `name` with the provider's callback going to
    /// `redirect_uri`; client-credentials connectors connect at once.
    pub async fn begin_authorization(
        &self,
        name: &str,
        redirect_uri: &Url,
        scopes: Option<Vec<String>>,
    ) -> ServiceResult<AuthorizationStart> {
        self.begin_for(self.store.connection_by_name(name)?, redirect_uri, scopes)
            .await
    }

    /// Starts authorizing `target`, a connector connection or an app connection.
    pub async fn begin_target_authorization(
        &self,
        target: Expected<'_>,
        redirect_uri: &Url,
        scopes: Option<Vec<String>>,
    ) -> ServiceResult<AuthorizationStart> {
        match target {
            Expected::Connection(name) => {
                self.begin_authorization(name, redirect_uri, scopes).await
            }
            Expected::App(name) => {
                self.begin_app_authorization(name, redirect_uri, scopes)
                    .await
            }
        }
    }

    /// Starts authorizing the app connection `name` (always the browser flow).
    pub async fn begin_app_authorization(
        &self,
        name: &str,
        redirect_uri: &Url,
        scopes: Option<Vec<String>>,
    ) -> ServiceResult<AuthorizationStart> {
        let app = self.store.app_connection(name)?;
        self.begin_for(app.connection, redirect_uri, scopes).await
    }

    async fn begin_for(
        &self,
        record: ConnectionRecord,
        redirect_uri: &Url,
        scopes: Option<Vec<String>>,
    ) -> ServiceResult<AuthorizationStart> {
        let r = self.resolve_oauth(record).await?;
        let creds = self.app_credentials(&r.record)?;
        if r.provider.grant_type == GrantType::ClientCredentials {
            let outcome = oauth::connect_client_credentials(
                &self.store,
                &self.oauth_http,
                &r.provider,
                &creds,
                &r.record.id,
            )
            .await?;
            self.tokens.invalidate(&r.record.id);
            self.resume_after_authorization(&r.record.name);
            return Ok(AuthorizationStart::Connected(outcome));
        }
        let request = oauth::begin_authorization(
            &self.store,
            &r.provider,
            &creds.client_id,
            &r.record,
            redirect_uri,
            scopes,
        )?;
        Ok(AuthorizationStart::Redirect(request))
    }

    /// Completes an authorization from the provider's callback parameters. With
    /// `expected` the state must belong to that connection; without, the state names it.
    /// Returns which connection it was and what was stored.
    pub async fn complete_authorization(
        &self,
        params: &CallbackParams,
        expected: Option<Expected<'_>>,
    ) -> ServiceResult<Completed> {
        let record = match expected {
            Some(Expected::Connection(name)) => self.store.connection_by_name(name)?,
            Some(Expected::App(name)) => self.store.app_connection(name)?.connection,
            None => {
                let state = params
                    .get("state")
                    .ok_or(oauth::AuthorizeError::MissingState)?;
                let id = self
                    .store
                    .state_connection(state)?
                    .ok_or(oauth::AuthorizeError::UnknownState)?;
                self.store.connection_by_id(&id)?
            }
        };
        let r = self.resolve_oauth(record).await?;
        let creds = self.app_credentials(&r.record)?;
        let outcome = oauth::complete_authorization(
            &self.store,
            &self.oauth_http,
            &r.provider,
            &creds,
            &r.record.id,
            params,
        )
        .await?;
        self.tokens.invalidate(&r.record.id);
        self.resume_after_authorization(&r.record.name);
        Ok(Completed {
            app: r.record.app,
            name: r.record.name,
            outcome,
        })
    }

    /// Streams paused because the connection needed a new authorization run again.
    fn resume_after_authorization(&self, name: &str) {
        match self.store.resume_reauth_paused(name) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(connection = %name, streams = n, "streams paused for re-authorization resumed")
            }
            Err(e) => {
                tracing::warn!(connection = %name, error = %e, "could not resume paused streams")
            }
        }
    }

    /// Revokes the connection's grant at the provider (when it has an endpoint) and
    /// deletes its tokens.
    pub async fn revoke(&self, name: &str) -> ServiceResult<ProviderRevocation> {
        self.revoke_for(self.store.connection_by_name(name)?).await
    }

    /// Revokes the app connection `name`'s grant and deletes its tokens.
    pub async fn revoke_app(&self, name: &str) -> ServiceResult<ProviderRevocation> {
        self.revoke_for(self.store.app_connection(name)?.connection)
            .await
    }

    async fn revoke_for(&self, record: ConnectionRecord) -> ServiceResult<ProviderRevocation> {
        let r = self.resolve_oauth(record).await?;
        let creds = match &r.record.credential_key {
            Some(k) => Some(self.store.credentials(k)?),
            None => None,
        };
        let outcome = oauth::revoke_connection(
            &self.store,
            &self.oauth_http,
            &r.provider,
            creds.as_ref(),
            &r.record.id,
        )
        .await?;
        self.tokens.invalidate(&r.record.id);
        Ok(outcome)
    }
}
