//! OAuth custody: the flows that obtain tokens (authorization code with PKCE, client
//! credentials), the run-time access-token path with single-flight refresh, revocation,
//! OIDC discovery and the background refresher.
//!
//! Owns: everything that talks to an authorization server, and (in `resolve`) turning a
//! manifest's OAuth block into the `ProviderConfig` every flow takes.
//! Must not: read manifest files or validate settings, store anything
//! except through `crate::store`, or let a token, code, verifier or client secret reach a
//! log line, an error message or `Debug` output.

pub mod authorize;
pub mod background;
pub mod callback;
#[cfg(test)]
mod catalog_tests;
pub mod classify;
pub mod client;
pub mod client_credentials;
pub mod discovery;
pub mod hooks;
pub mod http;
pub mod id_token;
pub mod provider;
pub mod refresh;
pub mod resolve;
pub mod revoke;

pub(crate) use authorize::AuthorizationRequest;
pub use authorize::{
    AuthorizationOutcome, AuthorizeError, CallbackParams, begin_authorization,
    complete_authorization,
};
pub use classify::Failure;
pub use client_credentials::connect_client_credentials;
pub use discovery::{OidcEndpoints, discover};
pub use http::OAuthHttp;
pub use id_token::{IdClaims, IdTokenCheck, IdTokenError, JwksCache};
pub use provider::{ClientAuthMethod, GrantType, ProviderConfig, TokenPaths};
pub(crate) use refresh::ProviderSource;
pub(crate) use refresh::RefreshObserver;
pub use refresh::{
    FixedProvider, ProviderError, RefreshOutcome, RefreshPolicy, TokenError, TokenManager,
};
pub use resolve::ProviderResolver;
pub(crate) use resolve::ResolveError;
pub use revoke::{ProviderRevocation, revoke_connection};
