//! What `keyway apply` needs of the store: the content digest of each configured object
//! (credentials, app connections, connector connections) as every write leaves it, and
//! which objects a configuration file manages (so `--prune` deletes only those).
//!
//! Owns: the `config_hash` columns of `credentials` and `connections` (the digest of app
//! connections is `app_connections.config_hash`) and the `applied` table.
//! Must not: store a digest that is not keyed (a digest covers secrets), or let a digest
//! depend on anything but content (map order, status, tokens).

use std::collections::{BTreeMap, BTreeSet};

use super::db::{OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::{Store, StoreError, now_unix};

/// The kinds of object a configuration file declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AppliedKind {
    Credentials,
    AppConnection,
    Connection,
}

impl AppliedKind {
    fn as_str(self) -> &'static str {
        match self {
            AppliedKind::Credentials => "credentials",
            AppliedKind::AppConnection => "app-connection",
            AppliedKind::Connection => "connection",
        }
    }
}

/// An object's stored digest: absent (no such object), present without a digest (written
/// before digests were kept), or the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredDigest {
    Absent,
    Unknown,
    Digest(String),
}

impl From<Option<Option<String>>> for StoredDigest {
    fn from(row: Option<Option<String>>) -> Self {
        match row {
            None => StoredDigest::Absent,
            Some(None) => StoredDigest::Unknown,
            Some(Some(d)) => StoredDigest::Digest(d),
        }
    }
}

impl Store {
    /// The digest of credentials as stored under any key.
    pub(crate) fn credentials_digest(
        &self,
        client_id: &str,
        client_secret: Option<&SecretString>,
    ) -> String {
        self.config_key.digest(&[
            Some("credentials"),
            Some(client_id),
            client_secret.map(|s| s.expose_secret()),
        ])
    }

    /// The digest of an app connection's configuration, as its row stores it.
    pub(crate) fn app_connection_digest(&self, config: &super::AppConnectionConfig) -> String {
        config.digest(&self.config_key)
    }

    /// The digest of a connector connection's configuration: its connector and its
    /// validated settings, plain (a JSON map, whose keys serialize sorted) and secret.
    pub(crate) fn connection_digest(
        &self,
        connector: &str,
        auth_option: Option<&str>,
        settings: &Map<String, Value>,
        secret_settings: &BTreeMap<String, SecretString>,
    ) -> String {
        let plain = Value::Object(settings.clone()).to_string();
        let mut fields = vec![Some("connection"), Some(connector), Some(plain.as_str())];
        // After a `None` no secret's name or value can follow, so the option stands apart;
        // a connection without one keeps the digest it had before options existed.
        if let Some(option) = auth_option {
            fields.extend([None, Some(option)]);
        }
        for (name, value) in secret_settings {
            fields.push(Some(name.as_str()));
            fields.push(Some(value.expose_secret()));
        }
        self.config_key.digest(&fields)
    }

    /// The digest of the object `kind`/`name` as stored now.
    pub fn stored_digest(&self, kind: AppliedKind, name: &str) -> Result<StoredDigest, StoreError> {
        let sql = match kind {
            AppliedKind::Credentials => "SELECT config_hash FROM credentials WHERE key = ?1",
            AppliedKind::Connection => {
                "SELECT config_hash FROM connections WHERE name = ?1 AND kind = 'connector'"
            }
            AppliedKind::AppConnection => {
                "SELECT a.config_hash FROM app_connections a
                 JOIN connections c ON c.id = a.connection_id WHERE c.name = ?1"
            }
        };
        let row: Option<Option<String>> = self
            .conn()
            .query_row(sql, [name], |r| r.get(0))
            .optional()
            .map_err(StoreError::sql("reading a configuration digest"))?;
        Ok(row.into())
    }

    /// The names of `kind` a configuration file has applied (and not deleted since).
    pub fn applied_names(&self, kind: AppliedKind) -> Result<BTreeSet<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name FROM applied WHERE kind = ?1")
            .map_err(StoreError::sql("reading applied objects"))?;
        stmt.query_map([kind.as_str()], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(StoreError::sql("reading applied objects"))
    }

    /// Records that a configuration file manages `kind`/`name`.
    pub fn mark_applied(&self, kind: AppliedKind, name: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO applied (kind, name, applied_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(kind, name) DO UPDATE SET applied_at = excluded.applied_at",
                params![kind.as_str(), name, now_unix()],
            )
            .map_err(StoreError::sql("recording an applied object"))?;
        Ok(())
    }

    /// Forgets that a configuration file manages `kind`/`name` (it was deleted).
    pub fn forget_applied(&self, kind: AppliedKind, name: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "DELETE FROM applied WHERE kind = ?1 AND name = ?2",
                params![kind.as_str(), name],
            )
            .map_err(StoreError::sql("forgetting an applied object"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_follow_content_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let secret = |v: &str| SecretString::from(v.to_string());
        let mut a = Map::new();
        a.insert("shop".into(), Value::from("acme"));
        a.insert("region".into(), Value::from("eu"));
        let mut b = Map::new();
        b.insert("region".into(), Value::from("eu"));
        b.insert("shop".into(), Value::from("acme"));
        let secrets = BTreeMap::from([("token".to_string(), secret("t1"))]);
        let one = store.connection_digest("shopify", None, &a, &secrets);
        assert_eq!(one, store.connection_digest("shopify", None, &b, &secrets));
        let rotated = BTreeMap::from([("token".to_string(), secret("t2"))]);
        assert_ne!(one, store.connection_digest("shopify", None, &a, &rotated));
        assert_ne!(one, store.connection_digest("square", None, &a, &secrets));
        assert!(!one.contains("t1"));
        assert_ne!(
            store.credentials_digest("cid", Some(&secret("s"))),
            store.credentials_digest("cid", None)
        );
    }
}
