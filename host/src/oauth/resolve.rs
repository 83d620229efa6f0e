//! A connection's provider configuration: the manifest's OAuth block with the URL
//! templates expanded from the connection's validated settings and, when the block names
//! an issuer, the endpoints OIDC discovery reports (fetched once per issuer per process).
//!
//! Owns: [`ProviderResolver`], the only place a manifest's OAuth block becomes a
//! [`ProviderConfig`], and the per-process discovery cache.
//! Must not: validate settings (callers pass [`ValidSettings`]) or block a thread: the
//! discovery request runs on the caller's runtime.

use std::collections::HashMap;
use std::sync::Mutex;

use super::discovery::{DiscoveryError, OidcEndpoints, discover};
use super::http::OAuthHttp;
use super::provider::{ProviderConfig, TokenPaths};
use crate::manifest::{AccessType, Connector, ExpandError, UrlTemplate, ValidSettings};

/// Why a connector's OAuth block could not be resolved for a connection. Names the
/// connector and the template or issuer, never a setting's value.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("connector `{connector}`: expanding {what}: {source}")]
    Expand {
        connector: String,
        what: &'static str,
        #[source]
        source: ExpandError,
    },
    #[error("connector `{connector}`: no token URL and no issuer to discover it")]
    NoTokenUrl { connector: String },
    #[error("connector `{connector}`: OIDC discovery: {source}")]
    Discovery {
        connector: String,
        #[source]
        source: DiscoveryError,
    },
}

/// Resolves provider configurations; one per host, shared by every use.
pub struct ProviderResolver {
    http: OAuthHttp,
    discovered: Mutex<HashMap<String, OidcEndpoints>>,
}

impl ProviderResolver {
    /// A resolver whose discovery requests go through `http`.
    pub fn new(http: OAuthHttp) -> ProviderResolver {
        ProviderResolver {
            http,
            discovered: Mutex::new(HashMap::new()),
        }
    }

    /// The resolved OAuth configuration of `connector` for a connection with `settings`;
    /// `None` when the manifest has no OAuth block.
    pub async fn resolve(
        &self,
        connector: &Connector,
        settings: &ValidSettings,
    ) -> Result<Option<ProviderConfig>, ResolveError> {
        let Some(oauth) = connector.oauth() else {
            return Ok(None);
        };
        let key = connector.key();
        let expand = |what: &'static str, t: &UrlTemplate| {
            settings.expand(t).map_err(|source| ResolveError::Expand {
                connector: key.to_string(),
                what,
                source,
            })
        };
        let discovered =
            match &oauth.issuer_url {
                Some(issuer) => {
                    let issuer = expand("issuerUrl", issuer)?;
                    Some(self.discover(&issuer).await.map_err(|source| {
                        ResolveError::Discovery {
                            connector: key.to_string(),
                            source,
                        }
                    })?)
                }
                None => None,
            };
        let token_url = match (&oauth.token_url, &discovered) {
            (Some(t), _) => expand("tokenUrlTemplate", t)?,
            (None, Some(d)) => d.token_endpoint.clone(),
            (None, None) => {
                return Err(ResolveError::NoTokenUrl {
                    connector: key.to_string(),
                });
            }
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
        config.required_scopes = oauth.required_scopes.clone();
        config.scope_separator = oauth.scope_separator.clone();
        config.access_type_offline = matches!(oauth.access_type, Some(AccessType::Offline));
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

    /// OIDC discovery for `issuer`, once per issuer per process.
    async fn discover(&self, issuer: &url::Url) -> Result<OidcEndpoints, DiscoveryError> {
        let key = issuer.to_string();
        let cached = self
            .discovered
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned());
        if let Some(hit) = cached {
            return Ok(hit);
        }
        let found = discover(&self.http, issuer).await?;
        if let Ok(mut m) = self.discovered.lock() {
            m.insert(key, found.clone());
        }
        Ok(found)
    }
}
