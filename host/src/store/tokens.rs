//! OAuth tokens per connection: access and refresh token sealed, expiry, granted scopes and a
//! generation number that grows with every write (so a reader can tell that someone else
//! refreshed while it waited).
//!
//! Owns: the `tokens` table and the connection columns that change with it, written in one
//! transaction (a rotated refresh token is durable once a write returns).
//! Must not: decide when to refresh or talk to a provider.

use std::collections::BTreeMap;
use std::fmt;

use super::db::{Db, Dialect, OptionalExtension, Tx, params};
use secrecy::{ExposeSecret, SecretString};

use super::{Aad, ConnectionStatus, Store, StoreError, now_unix};

/// Tokens as read back from the store. `Debug` never shows token values.
#[derive(Clone)]
pub struct StoredTokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub token_type: Option<String>,
    /// Unix seconds; `None` when the provider gave no lifetime (valid until a 401).
    pub expires_at: Option<i64>,
    pub scopes: Option<Vec<String>>,
    pub obtained_at: i64,
    pub generation: i64,
}

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("generation", &self.generation)
            .finish()
    }
}

/// Tokens to write. A `None` refresh token on a refresh keeps the stored one.
#[derive(Clone)]
pub struct TokenWrite {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub token_type: Option<String>,
    pub expires_at: Option<i64>,
    pub scopes: Option<Vec<String>>,
}

impl fmt::Debug for TokenWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenWrite")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

fn scopes_json(scopes: &Option<Vec<String>>) -> Option<String> {
    scopes
        .as_ref()
        .map(|s| serde_json::Value::from(s.clone()).to_string())
}

fn write_tokens(
    tx: &Tx<'_>,
    sealer: &super::Sealer,
    connection_id: &str,
    write: &TokenWrite,
    keep_old_refresh: bool,
) -> Result<i64, StoreError> {
    let err = StoreError::sql("writing tokens");
    let generation: i64 = tx
        .query_row(
            "UPDATE connections SET token_generation = token_generation + 1 WHERE id = ?1
             RETURNING token_generation",
            [connection_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?
        .ok_or_else(|| StoreError::NotFound {
            what: "connection",
            name: connection_id.to_string(),
        })?;
    let access = sealer.seal_str(
        Aad::new("tokens", connection_id, "access_token"),
        write.access_token.expose_secret(),
    );
    let refresh: Option<Vec<u8>> = match &write.refresh_token {
        Some(rt) => Some(sealer.seal_str(
            Aad::new("tokens", connection_id, "refresh_token"),
            rt.expose_secret(),
        )),
        None if keep_old_refresh => tx
            .query_row(
                "SELECT refresh_token FROM tokens WHERE connection_id = ?1",
                [connection_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::sql("reading the stored refresh token"))?
            .flatten(),
        None => None,
    };
    let scopes = match (&write.scopes, keep_old_refresh) {
        (Some(_), _) | (None, false) => scopes_json(&write.scopes),
        (None, true) => tx
            .query_row(
                "SELECT scopes FROM tokens WHERE connection_id = ?1",
                [connection_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::sql("reading stored scopes"))?
            .flatten(),
    };
    tx.execute(
        "INSERT INTO tokens (connection_id, access_token, refresh_token, token_type, expires_at,
            scopes, obtained_at, generation) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(connection_id) DO UPDATE SET access_token = excluded.access_token,
            refresh_token = excluded.refresh_token, token_type = excluded.token_type,
            expires_at = excluded.expires_at, scopes = excluded.scopes,
            obtained_at = excluded.obtained_at, generation = excluded.generation",
        params![
            connection_id,
            access,
            refresh,
            write.token_type,
            write.expires_at,
            scopes,
            now_unix(),
            generation
        ],
    )
    .map_err(StoreError::sql("writing tokens"))?;
    announce_refresh(tx, connection_id)?;
    Ok(generation)
}

/// Tells every replica listening that `connection_id`'s tokens or refresh lease changed,
/// at the commit of the transaction `db` is in (PostgreSQL; SQLite's waiters look again
/// on their own).
pub(super) fn announce_refresh(db: &Db, connection_id: &str) -> Result<(), StoreError> {
    if db.dialect() == Dialect::Postgres {
        db.execute(
            "SELECT pg_notify(?1, ?2)",
            params![super::REFRESH_CHANNEL, connection_id],
        )
        .map_err(StoreError::sql("announcing a token write"))?;
    }
    Ok(())
}

impl Store {
    /// The connection's tokens, opened; `None` when it has none.
    pub fn tokens(&self, connection_id: &str) -> Result<Option<StoredTokens>, StoreError> {
        type Row = (
            Vec<u8>,
            Option<Vec<u8>>,
            Option<String>,
            Option<i64>,
            Option<String>,
            i64,
            i64,
        );
        let row: Option<Row> = self
            .conn()
            .query_row(
                "SELECT access_token, refresh_token, token_type, expires_at, scopes, obtained_at,
                    generation FROM tokens WHERE connection_id = ?1",
                [connection_id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .optional()
            .map_err(StoreError::sql("reading tokens"))?;
        let Some((access, refresh, token_type, expires_at, scopes, obtained_at, generation)) = row
        else {
            return Ok(None);
        };
        let sealer = self.sealer();
        let access_token =
            sealer.open_str(Aad::new("tokens", connection_id, "access_token"), &access)?;
        let refresh_token = match refresh {
            Some(b) => {
                Some(sealer.open_str(Aad::new("tokens", connection_id, "refresh_token"), &b)?)
            }
            None => None,
        };
        let scopes = match scopes {
            Some(text) => Some(
                serde_json::from_str(&text).map_err(|_| StoreError::Invalid {
                    what: "stored scopes",
                    value: connection_id.to_string(),
                    reason: "not a JSON list of strings",
                })?,
            ),
            None => None,
        };
        Ok(Some(StoredTokens {
            access_token,
            refresh_token,
            token_type,
            expires_at,
            scopes,
            obtained_at,
            generation,
        }))
    }

    /// Stores the tokens of a completed authorization and marks the connection `connected`.
    pub fn save_authorized_tokens(
        &self,
        connection_id: &str,
        write: &TokenWrite,
        granted_scopes: &[String],
        callback_params: &BTreeMap<String, String>,
    ) -> Result<i64, StoreError> {
        let sealer = self.sealer();
        let mut conn = self.conn();
        let tx = conn
            .write_transaction()
            .map_err(StoreError::sql("storing tokens"))?;
        let generation = write_tokens(&tx, &sealer, connection_id, write, false)?;
        tx.execute(
            "UPDATE connections SET status = ?2, granted_scopes = ?3, callback_params = ?4,
                last_error = NULL, refresh_failures = 0, cooldown_until = NULL,
                last_refresh_at = NULL, updated_at = ?5 WHERE id = ?1",
            params![
                connection_id,
                ConnectionStatus::Connected.as_str(),
                serde_json::Value::from(granted_scopes.to_vec()).to_string(),
                serde_json::to_string(callback_params).unwrap_or_else(|_| "{}".into()),
                now_unix()
            ],
        )
        .map_err(StoreError::sql("storing tokens"))?;
        tx.commit().map_err(StoreError::sql("storing tokens"))?;
        Ok(generation)
    }

    /// Stores refreshed tokens in one durable transaction: a rotated refresh token replaces
    /// the old one, an omitted one keeps it. Returns the new generation.
    pub(crate) fn save_refreshed_tokens(
        &self,
        connection_id: &str,
        write: &TokenWrite,
    ) -> Result<i64, StoreError> {
        self.save_refreshed(connection_id, write, None)
    }

    /// [`save_refreshed_tokens`](Self::save_refreshed_tokens), replacing the stored
    /// callback parameters (settings a token hook read) in the same transaction.
    pub(crate) fn save_refreshed_tokens_with_params(
        &self,
        connection_id: &str,
        write: &TokenWrite,
        callback_params: &BTreeMap<String, String>,
    ) -> Result<i64, StoreError> {
        self.save_refreshed(connection_id, write, Some(callback_params))
    }

    fn save_refreshed(
        &self,
        connection_id: &str,
        write: &TokenWrite,
        callback_params: Option<&BTreeMap<String, String>>,
    ) -> Result<i64, StoreError> {
        let sealer = self.sealer();
        let mut conn = self.conn();
        let tx = conn
            .write_transaction()
            .map_err(StoreError::sql("storing refreshed tokens"))?;
        let generation = write_tokens(&tx, &sealer, connection_id, write, true)?;
        let now = now_unix();
        tx.execute(
            "UPDATE connections SET status = ?2, last_error = NULL, refresh_failures = 0,
                cooldown_until = NULL, last_refresh_at = ?3, updated_at = ?3 WHERE id = ?1",
            params![connection_id, ConnectionStatus::Connected.as_str(), now],
        )
        .map_err(StoreError::sql("storing refreshed tokens"))?;
        if let Some(scopes) = &write.scopes {
            tx.execute(
                "UPDATE connections SET granted_scopes = ?2 WHERE id = ?1",
                params![
                    connection_id,
                    serde_json::Value::from(scopes.clone()).to_string()
                ],
            )
            .map_err(StoreError::sql("storing refreshed tokens"))?;
        }
        if let Some(params) = callback_params {
            tx.execute(
                "UPDATE connections SET callback_params = ?2 WHERE id = ?1",
                params![
                    connection_id,
                    serde_json::to_string(params).unwrap_or_else(|_| "{}".into())
                ],
            )
            .map_err(StoreError::sql("storing refreshed tokens"))?;
        }
        tx.commit()
            .map_err(StoreError::sql("storing refreshed tokens"))?;
        Ok(generation)
    }

    /// Deletes the connection's tokens and sets its status (e.g. `revoked`), in one step.
    pub(crate) fn delete_tokens(
        &self,
        connection_id: &str,
        status: ConnectionStatus,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .write_transaction()
            .map_err(StoreError::sql("deleting tokens"))?;
        tx.execute(
            "DELETE FROM tokens WHERE connection_id = ?1",
            [connection_id],
        )
        .map_err(StoreError::sql("deleting tokens"))?;
        tx.execute(
            "UPDATE connections SET status = ?2, token_generation = token_generation + 1,
                updated_at = ?3 WHERE id = ?1",
            params![connection_id, status.as_str(), now_unix()],
        )
        .map_err(StoreError::sql("deleting tokens"))?;
        tx.commit().map_err(StoreError::sql("deleting tokens"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::MasterKey;
    use crate::store::connections::tests::new_conn;

    /// A token write for tests: `access`, `refresh`, a minute of life.
    pub(crate) fn write(access: &str, refresh: Option<&str>) -> TokenWrite {
        TokenWrite {
            access_token: SecretString::from(access),
            refresh_token: refresh.map(SecretString::from),
            token_type: Some("Bearer".into()),
            expires_at: Some(now_unix() + 60),
            scopes: None,
        }
    }

    #[test]
    fn refresh_keeps_old_refresh_token_when_omitted_and_bumps_generation() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        let c = store.create_connection(&new_conn("a")).unwrap();
        let g1 = store
            .save_authorized_tokens(
                &c.id,
                &write("at1", Some("rt1")),
                &["read".into()],
                &BTreeMap::new(),
            )
            .unwrap();
        let g2 = store
            .save_refreshed_tokens(&c.id, &write("at2", None))
            .unwrap();
        assert!(g2 > g1);
        let t = store.tokens(&c.id).unwrap().unwrap();
        assert_eq!(t.access_token.expose_secret(), "at2");
        assert_eq!(t.refresh_token.unwrap().expose_secret(), "rt1");
        store
            .save_refreshed_tokens(&c.id, &write("at3", Some("rt2")))
            .unwrap();
        let t = store.tokens(&c.id).unwrap().unwrap();
        assert_eq!(t.refresh_token.as_ref().unwrap().expose_secret(), "rt2");
        assert!(!format!("{t:?}").contains("at3"));
        let rec = store.connection_by_id(&c.id).unwrap();
        assert_eq!(rec.status, ConnectionStatus::Connected);
        assert!(rec.last_refresh_at.is_some());
        store
            .delete_tokens(&c.id, ConnectionStatus::Revoked)
            .unwrap();
        assert!(store.tokens(&c.id).unwrap().is_none());
        assert_eq!(
            store.connection_by_id(&c.id).unwrap().status,
            ConnectionStatus::Revoked
        );
    }

    #[test]
    fn token_moved_to_another_connection_fails_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        let a = store.create_connection(&new_conn("a")).unwrap();
        let b = store.create_connection(&new_conn("b")).unwrap();
        store
            .save_authorized_tokens(&a.id, &write("at-a", Some("rt-a")), &[], &BTreeMap::new())
            .unwrap();
        store
            .save_authorized_tokens(&b.id, &write("at-b", Some("rt-b")), &[], &BTreeMap::new())
            .unwrap();
        store
            .conn()
            .execute(
                "UPDATE tokens SET refresh_token =
                   (SELECT refresh_token FROM tokens WHERE connection_id = ?1)
                 WHERE connection_id = ?2",
                params![a.id, b.id],
            )
            .unwrap();
        let err = store.tokens(&b.id).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("tokens/{}/refresh_token", b.id)),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_token_write_is_announced_to_refreshes_waiting_on_any_replica() {
        if !crate::store::test_backend::postgres() {
            assert!(
                {
                    let dir = tempfile::tempdir().unwrap();
                    Store::open_with_key(dir.path(), &MasterKey::generate())
                        .unwrap()
                        .refresh_events()
                        .is_none()
                },
                "SQLite announces nothing"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let waiter = Store::open_with_key(dir.path(), &key).unwrap();
        let holder = Store::open_with_key(dir.path(), &key).unwrap();
        let c = holder.create_connection(&new_conn("a")).unwrap();
        let mut events = waiter.refresh_events().unwrap();
        events.borrow_and_update();
        holder
            .save_refreshed_tokens(&c.id, &write("at2", Some("rt2")))
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(30), events.changed())
            .await
            .expect("the token write is announced")
            .unwrap();
        // A released refresh lease is announced too.
        events.borrow_and_update();
        assert!(holder.try_acquire_lease("refresh:x", "h", 60_000).unwrap());
        holder.release_lease("refresh:x", "h").unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(30), events.changed())
            .await
            .expect("the release is announced")
            .unwrap();
    }
}
