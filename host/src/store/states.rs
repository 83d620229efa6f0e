//! Pending authorization states: one row per started authorization-code flow, keyed by a
//! hash of the `state` value, bound to one connection, with the sealed PKCE verifier, the
//! exact redirect URI and an expiry. Taking a state deletes it (single use).
//!
//! Owns: the `oauth_states` table.
//! Must not: store the raw `state` value or an unsealed PKCE verifier.

use super::db::{OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{Aad, Store, StoreError, now_unix};

/// A pending authorization taken from the store.
pub struct PendingState {
    pub connection_id: String,
    pub pkce_verifier: Option<SecretString>,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub expires_at: i64,
    /// The OIDC nonce sent with the authorization request, which its id_token must carry.
    pub nonce: Option<String>,
}

/// An authorization being started, as [`Store::insert_state`] records it.
pub(crate) struct NewState<'a> {
    pub state: &'a str,
    pub connection_id: &'a str,
    pub pkce_verifier: Option<&'a SecretString>,
    pub redirect_uri: &'a str,
    pub scopes: &'a [String],
    pub nonce: Option<&'a str>,
    pub expires_at: i64,
}

impl std::fmt::Debug for PendingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingState")
            .field("connection_id", &self.connection_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The key under which a `state` value is stored.
pub(crate) fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

impl Store {
    /// Records a started authorization.
    pub(crate) fn insert_state(&self, new: &NewState<'_>) -> Result<(), StoreError> {
        let hash = state_hash(new.state);
        let sealed = new.pkce_verifier.map(|v| {
            self.sealer().seal_str(
                Aad::new("oauth_states", &hash, "pkce_verifier"),
                v.expose_secret(),
            )
        });
        let now = now_unix();
        let conn = self.conn();
        // Expired states are useless; drop them while we are here.
        conn.execute("DELETE FROM oauth_states WHERE expires_at < ?1", [now])
            .map_err(StoreError::sql("purging expired states"))?;
        conn.execute(
            "INSERT INTO oauth_states (state_hash, connection_id, pkce_verifier, redirect_uri,
                scopes, expires_at, created_at, nonce) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                hash,
                new.connection_id,
                sealed,
                new.redirect_uri,
                serde_json::Value::from(new.scopes.to_vec()).to_string(),
                new.expires_at,
                now,
                new.nonce
            ],
        )
        .map_err(StoreError::sql("storing an authorization state"))?;
        Ok(())
    }

    /// The connection a pending `state` was issued for, without using it up; `None` if
    /// unknown or already used. A server callback needs it to pick the provider before
    /// `take_state` consumes the state.
    pub(crate) fn state_connection(&self, state: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT connection_id FROM oauth_states WHERE state_hash = ?1",
                [state_hash(state)],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::sql("reading an authorization state"))
    }

    /// Takes (and deletes) the pending authorization for `state`; `None` if unknown or
    /// already used. Expiry is left to the caller to judge, so it can say why it refused.
    pub fn take_state(&self, state: &str) -> Result<Option<PendingState>, StoreError> {
        let hash = state_hash(state);
        type Row = (String, Option<Vec<u8>>, String, String, i64, Option<String>);
        let row: Option<Row> = self
            .conn()
            .query_row(
                "DELETE FROM oauth_states WHERE state_hash = ?1
                 RETURNING connection_id, pkce_verifier, redirect_uri, scopes, expires_at, nonce",
                [&hash],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()
            .map_err(StoreError::sql("taking an authorization state"))?;
        let Some((connection_id, verifier, redirect_uri, scopes, expires_at, nonce)) = row else {
            return Ok(None);
        };
        let pkce_verifier = match verifier {
            Some(b) => Some(
                self.sealer()
                    .open_str(Aad::new("oauth_states", &hash, "pkce_verifier"), &b)?,
            ),
            None => None,
        };
        Ok(Some(PendingState {
            connection_id,
            pkce_verifier,
            redirect_uri,
            scopes: serde_json::from_str(&scopes).unwrap_or_default(),
            expires_at,
            nonce,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MasterKey;
    use crate::store::connections::tests::new_conn;

    #[test]
    fn state_is_single_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        let c = store.create_connection(&new_conn("a")).unwrap();
        let v = SecretString::from("verifier");
        store
            .insert_state(&NewState {
                state: "s1",
                connection_id: &c.id,
                pkce_verifier: Some(&v),
                redirect_uri: "http://127.0.0.1/cb",
                scopes: &["a".into()],
                nonce: Some("n0nce"),
                expires_at: now_unix() + 600,
            })
            .unwrap();
        let taken = store.take_state("s1").unwrap().unwrap();
        assert_eq!(taken.connection_id, c.id);
        assert_eq!(taken.nonce.as_deref(), Some("n0nce"));
        assert_eq!(taken.pkce_verifier.unwrap().expose_secret(), "verifier");
        assert!(store.take_state("s1").unwrap().is_none());
        assert!(store.take_state("other").unwrap().is_none());
    }
}
