//! Connecting and disconnecting stored connections, shared by the CLI and the server:
//! starting an authorization (or connecting at once with client credentials), completing
//! it from the provider's callback, and revoking.
//!
//! Owns: resolving a connection's provider configuration and app credentials for those
//! three steps.
//! Must not: decide anything the `oauth` module decides (state, PKCE, exchange, storage),
//! or put a code, verifier, token or client secret into a result or error.

use anyhow::{Context, anyhow};
use url::Url;

use super::Services;
use crate::cli::connections::ConnectorCatalog;
use crate::oauth::{
    self, AuthorizationOutcome, AuthorizationRequest, CallbackParams, GrantType, ProviderConfig,
    ProviderRevocation,
};
use crate::store::{ClientCredentials, ConnectionRecord};

/// How an authorization started.
#[derive(Debug)]
pub enum AuthorizationStart {
    /// Send the user to the provider; the callback completes it.
    Redirect(AuthorizationRequest),
    /// Client credentials: connected already.
    Connected(AuthorizationOutcome),
}

struct Resolved {
    record: ConnectionRecord,
    provider: ProviderConfig,
}

impl Services {
    fn resolve_oauth(&self, record: ConnectionRecord) -> anyhow::Result<Resolved> {
        let secrets = self.store.secret_settings(&record.id)?;
        let provider = ConnectorCatalog::provider_config(&*self.catalog, &record, &secrets)?
            .ok_or_else(|| anyhow!("connection `{}` does not use OAuth", record.name))?;
        Ok(Resolved { record, provider })
    }

    fn app_credentials(&self, record: &ConnectionRecord) -> anyhow::Result<ClientCredentials> {
        let key = record
            .credential_key
            .as_deref()
            .ok_or_else(|| anyhow!("connection `{}` has no OAuth credential key", record.name))?;
        self.store
            .credentials(key)
            .with_context(|| format!("set the OAuth app credentials `{key}` first"))
    }

    /// Starts authorizing the connection `name` with the provider's callback going to
    /// `redirect_uri`; client-credentials connectors connect at once.
    pub async fn begin_authorization(
        &self,
        name: &str,
        redirect_uri: &Url,
        scopes: Option<Vec<String>>,
    ) -> anyhow::Result<AuthorizationStart> {
        let r = self.resolve_oauth(self.store.connection_by_name(name)?)?;
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
    /// Returns the connection's name and what was stored.
    pub async fn complete_authorization(
        &self,
        params: &CallbackParams,
        expected: Option<&str>,
    ) -> anyhow::Result<(String, AuthorizationOutcome)> {
        let record = match expected {
            Some(name) => self.store.connection_by_name(name)?,
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
        let r = self.resolve_oauth(record)?;
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
        Ok((r.record.name, outcome))
    }

    /// Revokes the connection's grant at the provider (when it has an endpoint) and
    /// deletes its tokens.
    pub async fn revoke(&self, name: &str) -> anyhow::Result<ProviderRevocation> {
        let r = self.resolve_oauth(self.store.connection_by_name(name)?)?;
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
