//! The connection's settings and the secret settings granted to the connector.

use crate::wit::keyway::connector::{secrets as wit_secrets, settings as wit_settings};
use crate::{Error, ErrorCode};

/// Non-secret settings of the connection.
pub struct Settings;

impl Settings {
    /// A setting's value (strings as they are, other JSON values as JSON text), or `None`
    /// when unset. Secret settings fail with `not_permitted`: use [`Secrets::get`].
    pub fn get(name: &str) -> Result<Option<String>, Error> {
        wit_settings::get(name).map_err(Error::from)
    }

    /// Like [`Settings::get`], but an unset setting is a `not_found` error.
    pub fn require(name: &str) -> Result<String, Error> {
        Settings::get(name)?
            .ok_or_else(|| Error::new(ErrorCode::NotFound, format!("setting `{name}` is not set")))
    }
}

/// Secret settings the manifest grants `read` on.
pub struct Secrets;

impl Secrets {
    /// The secret's value. Fails with `not_permitted` unless `permissions.secrets` grants
    /// `read`, and `not_found` when the connection has no value for it.
    pub fn get(name: &str) -> Result<String, Error> {
        wit_secrets::get(name).map_err(Error::from)
    }
}
