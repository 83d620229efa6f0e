//! Where the token manager gets a connection's provider configuration: the
//! [`ProviderSource`] seam, [`FixedProvider`] for one configuration shared by every
//! connection, and [`ProviderError`], why no configuration could be had.
//!
//! Owns: the trait, its fixed implementation and its error.
//! Must not: read manifests or settings (an implementation elsewhere does, e.g. custody's
//! `StoredProviders`), or put a secret in an error.

use std::sync::Arc;

use crate::oauth::provider::ProviderConfig;
use crate::store::{ConnectionRecord, StoreError};
use crate::types::BoxFuture;

/// Supplies the resolved provider configuration of a connection (from its manifest).
/// Asynchronous, so an implementation may run OIDC discovery or read the store without
/// blocking the caller's runtime.
pub trait ProviderSource: Send + Sync {
    fn provider_config<'a>(
        &'a self,
        connection: &'a ConnectionRecord,
    ) -> BoxFuture<'a, Result<Arc<ProviderConfig>, ProviderError>>;
}

/// Every connection gets the same configuration (tests, benchmarks, an embedder with one provider).
pub struct FixedProvider(pub Arc<ProviderConfig>);

impl ProviderSource for FixedProvider {
    fn provider_config<'a>(
        &'a self,
        _connection: &'a ConnectionRecord,
    ) -> BoxFuture<'a, Result<Arc<ProviderConfig>, ProviderError>> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }
}

/// Why a connection's provider configuration could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("connector `{connector}` has no OAuth block")]
    NoOAuth { connector: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}
