//! The console's sign-ins: the admin key, checked by the console, is exchanged for a
//! session id that lives for a fixed time, kept in the store (as a digest) so that every
//! replica knows it.
//!
//! Owns: a session's lifetime (its id and digest are `bearer.rs`'s).
//! Must not: keep or log a session id.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::bearer::{digest, new_secret};
use super::{ServiceResult, Services};
use crate::store::now_unix_ms;

impl Services {
    /// A new sign-in, live for `ttl`: its id, for the session cookie only.
    pub fn console_sign_in(&self, ttl: Duration) -> ServiceResult<SecretString> {
        let id = SecretString::from(new_secret(""));
        let now = now_unix_ms();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        self.store.create_console_session(
            &digest(id.expose_secret()),
            now,
            now.saturating_add(ttl_ms),
        )?;
        Ok(id)
    }

    /// Whether `id` is a live sign-in (made on any replica).
    pub fn console_signed_in(&self, id: &str) -> ServiceResult<bool> {
        Ok(self
            .store
            .console_session_live(&digest(id), now_unix_ms())?)
    }

    /// Ends the sign-in `id` on every replica.
    pub fn console_sign_out(&self, id: &str) -> ServiceResult<()> {
        Ok(self.store.delete_console_session(&digest(id))?)
    }
}
