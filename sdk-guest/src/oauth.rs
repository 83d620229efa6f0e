//! The connection's OAuth token, held by the host.

use crate::Error;
use crate::wit::keyway::connector::oauth as wit;

/// Access to the connection's OAuth grant.
pub struct OAuth;

impl OAuth {
    /// An access token valid for at least `min_ttl_seconds`, refreshed by the host when
    /// needed. Fails with `reauth_required`, `missing_scopes`, `provider_unavailable`, or
    /// `not_permitted` (no OAuth block, or strict custody: use `Auth::OAuth` on [`crate::Http`]).
    pub fn access_token(min_ttl_seconds: u32) -> Result<String, Error> {
        wit::access_token(min_ttl_seconds).map_err(Error::from)
    }

    /// The scopes the provider granted.
    pub fn granted_scopes() -> Result<Vec<String>, Error> {
        wit::granted_scopes().map_err(Error::from)
    }
}
