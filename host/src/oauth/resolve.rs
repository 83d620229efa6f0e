//! A connection's provider configuration: the manifest's OAuth block with the URL
//! templates expanded from the connection's validated settings and, when the block names
//! an issuer, the endpoints OIDC discovery reports (fetched once per issuer per process).
//!
//! Owns: [`ProviderResolver`], the only place a manifest's OAuth block becomes a
//! [`ProviderConfig`], and the per-process discovery cache.
//! Must not: validate settings (callers pass [`ValidSettings`]) or block a thread: the
//! discovery request runs on the caller's runtime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use url::Url;

use super::discovery::{DiscoveryError, OidcEndpoints, discover};
use super::http::OAuthHttp;
use super::id_token::{IdTokenCheck, JwksCache};
use super::provider::{GrantType, ProviderConfig, TokenPaths};
use crate::manifest::{AccessType, AuthOption, Connector, ExpandError, UrlTemplate, ValidSettings};
use crate::store::AppConnectionRow;

/// Scopes an app connection with an issuer requests when neither it nor `authorize`
/// names any.
pub const DEFAULT_OIDC_SCOPES: &[&str] = &["openid", "profile", "email"];

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
    #[error(
        "{owner}: the issuer {issuer} publishes no `jwks_uri`, so its id_tokens cannot be validated"
    )]
    NoJwks { owner: String, issuer: String },
    #[error("app connection `{name}`: {what} `{value}` is not a URL: {reason}")]
    AppUrl {
        name: String,
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("app connection `{name}`: no {what}: give an issuer URL to discover it, or `{flag}`")]
    AppNoEndpoint {
        name: String,
        what: &'static str,
        flag: &'static str,
    },
    #[error("app connection `{name}`: OIDC discovery: {source}")]
    AppDiscovery {
        name: String,
        #[source]
        source: DiscoveryError,
    },
}

/// Resolves provider configurations; one per host, shared by every use.
pub struct ProviderResolver {
    http: OAuthHttp,
    discovered: Mutex<HashMap<String, OidcEndpoints>>,
    jwks: Arc<JwksCache>,
}

impl ProviderResolver {
    /// A resolver whose discovery requests go through `http`.
    pub fn new(http: OAuthHttp) -> ProviderResolver {
        ProviderResolver {
            http,
            discovered: Mutex::new(HashMap::new()),
            jwks: Arc::new(JwksCache::new()),
        }
    }

    /// The resolved OAuth configuration of `connector` for a connection that
    /// authenticates with `auth` and has `settings`; `None` when that way has no OAuth block.
    pub async fn resolve(
        &self,
        connector: &Connector,
        auth: &AuthOption,
        settings: &ValidSettings,
    ) -> Result<Option<ProviderConfig>, ResolveError> {
        let Some(oauth) = &auth.oauth else {
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
        let mut config = configure(key, oauth, settings, discovered.as_ref())?;
        if let Some(d) = &discovered {
            config.apply_discovery(d, false);
            config.id_token = Some(self.id_token_check(d, &format!("connector `{key}`"))?);
        }
        if !oauth.hooks.is_empty() {
            config.hooks = Some(super::hooks::plan(connector, auth, &oauth.hooks, settings));
        }
        Ok(Some(config))
    }

    /// The id_token check for an issuer found by discovery.
    fn id_token_check(&self, d: &OidcEndpoints, owner: &str) -> Result<IdTokenCheck, ResolveError> {
        let jwks_uri = d.jwks_uri.clone().ok_or_else(|| ResolveError::NoJwks {
            owner: owner.to_string(),
            issuer: d.issuer.to_string(),
        })?;
        Ok(IdTokenCheck {
            issuer: d.issuer_claim.clone(),
            jwks_uri,
            keys: self.jwks.clone(),
        })
    }

    /// The provider configuration of an app connection: endpoints from discovery at its
    /// issuer, the operator's overrides winning; without an issuer both overrides are
    /// needed. Authorization code with PKCE, standard token paths.
    pub async fn resolve_app(
        &self,
        app: &AppConnectionRow,
    ) -> Result<ProviderConfig, ResolveError> {
        let name = &app.connection.name;
        let url = |what: &'static str, value: &str| {
            Url::parse(value).map_err(|e| ResolveError::AppUrl {
                name: name.clone(),
                what,
                value: value.chars().take(200).collect(),
                reason: e.to_string(),
            })
        };
        let discovered =
            match &app.issuer_url {
                Some(issuer) => {
                    let issuer = url("issuer URL", issuer)?;
                    Some(self.discover(&issuer).await.map_err(|source| {
                        ResolveError::AppDiscovery {
                            name: name.clone(),
                            source,
                        }
                    })?)
                }
                None => None,
            };
        let token_url = match (&app.token_url, &discovered) {
            (Some(t), _) => url("token URL", t)?,
            (None, Some(d)) => d.token_endpoint.clone(),
            (None, None) => {
                return Err(ResolveError::AppNoEndpoint {
                    name: name.clone(),
                    what: "token endpoint",
                    flag: "--token-url",
                });
            }
        };
        let mut config = ProviderConfig::new(GrantType::AuthorizationCode, token_url);
        config.authorization_url = app
            .auth_url
            .as_deref()
            .map(|a| url("authorization URL", a))
            .transpose()?;
        if let Some(d) = &discovered {
            config.apply_discovery(d, false);
            config.id_token = Some(self.id_token_check(d, &format!("app connection `{name}`"))?);
        }
        if config.authorization_url.is_none() {
            return Err(ResolveError::AppNoEndpoint {
                name: name.clone(),
                what: "authorization endpoint",
                flag: "--auth-url",
            });
        }
        config.scopes = if !app.scopes.is_empty() {
            app.scopes.clone()
        } else if discovered.is_some() {
            DEFAULT_OIDC_SCOPES.iter().map(|s| s.to_string()).collect()
        } else {
            Vec::new()
        };
        Ok(config)
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

/// The provider configuration of connector `key`'s OAuth block for a connection with
/// `settings`: templates expanded, every knob copied; the token URL from `discovered`
/// when the block has no template. Endpoints discovery adds and the id_token check are
/// the caller's ([`ProviderResolver::resolve`]); no request is made here.
pub(crate) fn configure(
    key: &str,
    oauth: &crate::manifest::OAuthConfig,
    settings: &ValidSettings,
    discovered: Option<&OidcEndpoints>,
) -> Result<ProviderConfig, ResolveError> {
    let expand = |what: &'static str, t: &UrlTemplate| {
        settings.expand(t).map_err(|source| ResolveError::Expand {
            connector: key.to_string(),
            what,
            source,
        })
    };
    let token_url = match (&oauth.token_url, discovered) {
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
    Ok(config)
}
