//! The connection's OAuth token, held by the host, and app connections by name.
//!
//! Owns the guest's side of the `oauth` door and the [`AppConnection`] handle (a name, checked
//! at compile time when it comes from [`crate::app_connections!`]). Must not cache or log a
//! token, and must not judge whether a name is granted: the host does, at the door.

use crate::Error;
use crate::wit::keyway::connector::oauth as wit;
use std::borrow::Cow;

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

    /// The app connection `name`, defined by the operator with `keyway app-connections`
    /// and granted in the manifest's `permissions.connections`.
    ///
    /// For a name only known at run time (from a request or a setting). A name the
    /// manifest grants is better taken from the constants [`crate::app_connections!`]
    /// generates: a misspelt constant fails to compile, a misspelt string only fails at
    /// the door with `not_permitted`.
    pub fn connection(name: &str) -> AppConnection {
        AppConnection {
            name: Cow::Owned(name.to_string()),
        }
    }
}

/// An app connection used by name: a constant generated from the manifest (see
/// [`crate::app_connections!`]) or [`OAuth::connection`] for a name known at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConnection {
    name: Cow<'static, str>,
}

/// An app connection's token and what is known of it. `Debug` hides the token.
#[derive(Clone)]
pub struct ConnectionToken {
    pub access_token: String,
    /// The provider's `token_type` (usually `Bearer`), when it gave one.
    pub token_type: Option<String>,
    /// Unix seconds; `None` when the provider gave no lifetime.
    pub expires_at: Option<i64>,
    pub granted_scopes: Vec<String>,
}

impl std::fmt::Debug for ConnectionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionToken")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("granted_scopes", &self.granted_scopes)
            .finish_non_exhaustive()
    }
}

impl AppConnection {
    /// The app connection `name`, for a constant. Generated code uses it (see
    /// [`crate::app_connections!`]); it checks nothing itself.
    pub const fn named(name: &'static str) -> AppConnection {
        AppConnection {
            name: Cow::Borrowed(name),
        }
    }

    /// The name this handle uses.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its access token, valid for at least `min_ttl_seconds`. Needs `["token"]` in
    /// `permissions.connections`: `not_permitted` otherwise, `not_found` when the host
    /// defines no app connection of that name.
    pub fn access_token(&self, min_ttl_seconds: u32) -> Result<ConnectionToken, Error> {
        let t = wit::access_token_for(&self.name, min_ttl_seconds).map_err(Error::from)?;
        Ok(ConnectionToken {
            access_token: t.access_token,
            token_type: t.token_type,
            expires_at: t.expires_at,
            granted_scopes: t.granted_scopes,
        })
    }

    /// Host-side injection of its token (`["inject"]` and a `connection.appInject` rule).
    pub fn auth(&self, min_ttl_seconds: u32) -> crate::Auth {
        crate::Auth::AppConnection {
            name: self.name.to_string(),
            min_ttl_seconds,
        }
    }
}
