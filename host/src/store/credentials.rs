//! OAuth app credentials (client id and sealed client secret), keyed by the manifest's
//! credential key.
//!
//! Owns: the `credentials` table.
//! Must not: return a client secret in a listing, an error or `Debug` output.

use std::fmt;

use super::db::{OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};

use super::{Aad, Store, StoreError, now_unix};

/// Client id and secret for one OAuth app. `Debug` never shows the secret.
#[derive(Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What `credentials list` shows.
#[derive(Debug, Clone)]
pub(crate) struct CredentialSummary {
    pub key: String,
    pub client_id: String,
    pub has_secret: bool,
    pub updated_at: i64,
}

pub(crate) fn validate_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Err(StoreError::Invalid {
            what: "credential key",
            value: key.chars().take(80).collect(),
            reason: "use 1-128 ASCII letters, digits, '-', '_' or '.'",
        });
    }
    Ok(())
}

impl Store {
    /// Creates or replaces the credentials stored under `key`.
    pub fn set_credentials(
        &self,
        key: &str,
        client_id: &str,
        client_secret: Option<&SecretString>,
    ) -> Result<(), StoreError> {
        validate_key(key)?;
        if client_id.trim().is_empty() {
            return Err(StoreError::Invalid {
                what: "client id",
                value: String::new(),
                reason: "must not be empty",
            });
        }
        let blob = client_secret.map(|s| {
            self.sealer().seal_str(
                Aad::new("credentials", key, "client_secret"),
                s.expose_secret(),
            )
        });
        let now = now_unix();
        let digest = self.credentials_digest(client_id, client_secret);
        self.conn()
            .execute(
                "INSERT INTO credentials (key, client_id, client_secret, config_hash, created_at,
                    updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT(key) DO UPDATE SET client_id = excluded.client_id,
                    client_secret = excluded.client_secret, config_hash = excluded.config_hash,
                    updated_at = excluded.updated_at",
                params![key, client_id, blob, digest, now],
            )
            .map_err(StoreError::sql("storing credentials"))?;
        Ok(())
    }

    /// The credentials stored under `key`, secret opened.
    pub fn credentials(&self, key: &str) -> Result<ClientCredentials, StoreError> {
        let row: Option<(String, Option<Vec<u8>>)> = self
            .conn()
            .query_row(
                "SELECT client_id, client_secret FROM credentials WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(StoreError::sql("reading credentials"))?;
        let (client_id, blob) = row.ok_or_else(|| StoreError::NotFound {
            what: "credentials",
            name: key.to_string(),
        })?;
        let client_secret = match blob {
            Some(b) => Some(
                self.sealer()
                    .open_str(Aad::new("credentials", key, "client_secret"), &b)?,
            ),
            None => None,
        };
        Ok(ClientCredentials {
            client_id,
            client_secret,
        })
    }

    pub(crate) fn list_credentials(&self) -> Result<Vec<CredentialSummary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT key, client_id, client_secret IS NOT NULL, updated_at FROM credentials
                 WHERE key NOT LIKE 'app:%' ORDER BY key",
            )
            .map_err(StoreError::sql("listing credentials"))?;
        stmt.query_map((), |r| {
            Ok(CredentialSummary {
                key: r.get(0)?,
                client_id: r.get(1)?,
                has_secret: r.get(2)?,
                updated_at: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(StoreError::sql("listing credentials"))
    }

    /// Deletes the credentials under `key`. Only a key an operator may set can be named:
    /// an app connection's own `app:<name>` secret goes with its app connection.
    pub(crate) fn delete_credentials(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        let n = self
            .conn()
            .execute("DELETE FROM credentials WHERE key = ?1", [key])
            .map_err(StoreError::sql("deleting credentials"))?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "credentials",
                name: key.to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MasterKey;

    #[test]
    fn set_read_list_and_redacted_debug() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        let secret = SecretString::from("canary-client-secret");
        store
            .set_credentials("app", "client-1", Some(&secret))
            .unwrap();
        let creds = store.credentials("app").unwrap();
        assert_eq!(creds.client_id, "client-1");
        assert_eq!(
            creds.client_secret.as_ref().unwrap().expose_secret(),
            "canary-client-secret"
        );
        assert!(!format!("{creds:?}").contains("canary"));
        let list = store.list_credentials().unwrap();
        assert_eq!(list.len(), 1);
        assert!(list[0].has_secret);
        assert!(store.set_credentials("bad key", "x", None).is_err());
        store.delete_credentials("app").unwrap();
        assert!(store.credentials("app").is_err());
    }

    #[test]
    fn an_app_connections_own_secret_cannot_be_deleted_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        // As app connections store theirs, out of reach of `set_credentials`.
        store
            .conn()
            .execute(
                "INSERT INTO credentials (key, client_id, client_secret, created_at, updated_at)
                 VALUES ('app:crm', 'c', NULL, 0, 0)",
                (),
            )
            .unwrap();
        let err = store.delete_credentials("app:crm").unwrap_err();
        assert!(err.to_string().contains("credential key"), "{err}");
        let left: i64 = store
            .conn()
            .query_row(
                "SELECT count(*) FROM credentials WHERE key = 'app:crm'",
                (),
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 1);
    }
}
