//! Connection rows: name, connector, validated settings (secret ones sealed per field),
//! lifecycle status and refresh bookkeeping.
//!
//! Owns: the `connections` and `connection_secrets` tables (creating, reading, listing and
//! deleting rows; a connection's status and bookkeeping writes are `connection_state.rs`).
//! Must not: validate settings against a manifest (the caller hands over settings that have
//! already passed validation) or store a secret setting unsealed.

use std::collections::BTreeMap;
use std::fmt;

use super::db::{DbError, OptionalExtension, Row, Tx, params};
use secrecy::SecretString;

pub use super::connection_state::ConnectionStatus;
use super::{Store, StoreError, new_id, now_unix};

/// A connection to create. Settings must already be validated by the caller.
pub struct NewConnection {
    pub name: String,
    /// Connector directory or key, as the operator gave it.
    pub connector: String,
    /// Key of the OAuth app credentials (`credentials set <key>`), if the connector uses OAuth.
    pub credential_key: Option<String>,
    /// The auth option chosen (`connection.authOptions`), if the connector offers options.
    pub auth_option: Option<String>,
    /// Non-secret settings, stored as JSON.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// `x-secret` settings, sealed per field.
    pub secret_settings: BTreeMap<String, SecretString>,
}

impl fmt::Debug for NewConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewConnection")
            .field("name", &self.name)
            .field("connector", &self.connector)
            .field("credential_key", &self.credential_key)
            .field("auth_option", &self.auth_option)
            .field("settings", &self.settings)
            .field(
                "secret_settings",
                &self.secret_settings.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A connection as stored (no secret values).
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    pub id: String,
    pub name: String,
    pub connector: String,
    pub credential_key: Option<String>,
    /// The auth option chosen at creation (`connection.authOptions`).
    pub auth_option: Option<String>,
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub secret_setting_keys: Vec<String>,
    pub status: ConnectionStatus,
    pub granted_scopes: Option<Vec<String>>,
    pub callback_params: BTreeMap<String, String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub account_domain: Option<String>,
    pub token_generation: i64,
    pub token_expires_at: Option<i64>,
    pub has_tokens: bool,
    pub last_refresh_at: Option<i64>,
    pub last_error: Option<String>,
    pub refresh_failures: i64,
    pub cooldown_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// An app connection (`app-connections`), not a connector's.
    pub app: bool,
}

const SELECT: &str = "SELECT c.id, c.name, c.connector, c.credential_key, c.settings, c.status,
    c.granted_scopes, c.callback_params, c.account_id, c.account_name, c.account_domain,
    c.token_generation, t.expires_at, t.connection_id IS NOT NULL, c.last_refresh_at,
    c.last_error, c.refresh_failures, c.cooldown_until, c.created_at, c.updated_at,
    (SELECT string_agg(key, '\u{1f}') FROM connection_secrets s WHERE s.connection_id = c.id),
    c.kind = 'app', c.auth_option
    FROM connections c LEFT JOIN tokens t ON t.connection_id = c.id";

fn parse_json<T: serde::de::DeserializeOwned>(
    text: Option<String>,
    col: usize,
) -> Result<Option<T>, DbError> {
    match text {
        None => Ok(None),
        Some(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| DbError::conversion(col, e)),
    }
}

fn from_row(row: &Row<'_>) -> Result<ConnectionRecord, DbError> {
    let status: String = row.get(5)?;
    let status = status
        .parse()
        .map_err(|e: StoreError| DbError::conversion(5, e))?;
    let secret_keys: Option<String> = row.get(20)?;
    Ok(ConnectionRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        connector: row.get(2)?,
        credential_key: row.get(3)?,
        settings: parse_json(row.get(4)?, 4)?.unwrap_or_default(),
        status,
        granted_scopes: parse_json(row.get(6)?, 6)?,
        callback_params: parse_json(row.get(7)?, 7)?.unwrap_or_default(),
        account_id: row.get(8)?,
        account_name: row.get(9)?,
        account_domain: row.get(10)?,
        token_generation: row.get(11)?,
        token_expires_at: row.get(12)?,
        has_tokens: row.get(13)?,
        last_refresh_at: row.get(14)?,
        last_error: row.get(15)?,
        refresh_failures: row.get(16)?,
        cooldown_until: row.get(17)?,
        created_at: row.get(18)?,
        updated_at: row.get(19)?,
        secret_setting_keys: secret_keys
            .map(|s| s.split('\u{1f}').map(str::to_string).collect())
            .unwrap_or_default(),
        app: row.get(21)?,
        auth_option: row.get(22)?,
    })
}

/// Refuses `name` when a connection of either kind has it: one name means one
/// connection, so an app connection and a connector connection never share a name.
pub(super) fn refuse_taken_name(tx: &Tx<'_>, name: &str) -> Result<(), StoreError> {
    let kind: Option<String> = tx
        .query_row(
            "SELECT kind FROM connections WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::sql("checking a connection name"))?;
    match kind {
        None => Ok(()),
        Some(kind) => Err(StoreError::AlreadyExists {
            what: if kind == "app" {
                "app connection"
            } else {
                "connector connection"
            },
            name: name.to_string(),
        }),
    }
}

/// Connection names: 1-63 characters, lowercase ASCII letters, digits and hyphens, not
/// starting or ending with a hyphen.
pub(crate) fn validate_name(name: &str) -> Result<(), StoreError> {
    if !crate::types::is_connection_name(name) {
        return Err(StoreError::Invalid {
            what: "connection name",
            value: name.chars().take(80).collect(),
            reason: crate::types::CONNECTION_NAME_RULE,
        });
    }
    Ok(())
}

impl Store {
    /// Creates a connection in `pending_authorization`.
    pub fn create_connection(&self, new: &NewConnection) -> Result<ConnectionRecord, StoreError> {
        validate_name(&new.name)?;
        let id = new_id("conn");
        let now = now_unix();
        let sealer = self.sealer();
        let settings = serde_json::Value::Object(new.settings.clone()).to_string();
        let digest = self.connection_digest(
            &new.connector,
            new.auth_option.as_deref(),
            &new.settings,
            &new.secret_settings,
        );
        {
            let mut conn = self.conn();
            let tx = conn
                .write_transaction()
                .map_err(StoreError::sql("creating a connection"))?;
            refuse_taken_name(&tx, &new.name)?;
            tx.execute(
                "INSERT INTO connections (id, name, connector, credential_key, settings, status,
                    config_hash, created_at, updated_at, auth_option)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
                params![
                    id,
                    new.name,
                    new.connector,
                    new.credential_key,
                    settings,
                    ConnectionStatus::PendingAuthorization.as_str(),
                    digest,
                    now,
                    new.auth_option
                ],
            )
            .map_err(StoreError::sql("creating a connection"))?;
            for (key, value) in &new.secret_settings {
                super::secret_settings::insert(&tx, &sealer, &id, key, value)?;
            }
            tx.commit()
                .map_err(StoreError::sql("creating a connection"))?;
        }
        self.connection_by_id(&id)
    }

    pub(crate) fn connection_by_name(&self, name: &str) -> Result<ConnectionRecord, StoreError> {
        self.conn()
            .prepare_cached(&format!(
                "{SELECT} WHERE c.name = ?1 AND c.kind = 'connector'"
            ))
            .and_then(|mut stmt| stmt.query_row([name], from_row))
            .optional()
            .map_err(StoreError::sql("reading a connection"))?
            .ok_or_else(|| StoreError::NotFound {
                what: "connection",
                name: name.to_string(),
            })
    }

    pub fn connection_by_id(&self, id: &str) -> Result<ConnectionRecord, StoreError> {
        self.conn()
            .prepare_cached(&format!("{SELECT} WHERE c.id = ?1"))
            .and_then(|mut stmt| stmt.query_row([id], from_row))
            .optional()
            .map_err(StoreError::sql("reading a connection"))?
            .ok_or_else(|| StoreError::NotFound {
                what: "connection",
                name: id.to_string(),
            })
    }

    pub(crate) fn list_connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "{SELECT} WHERE c.kind = 'connector' ORDER BY c.name"
            ))
            .map_err(StoreError::sql("listing connections"))?;
        let rows = stmt
            .query_map((), from_row)
            .map_err(StoreError::sql("listing connections"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::sql("listing connections"))
    }

    /// Deletes a connection with its tokens, secret settings and pending states.
    /// Deletes the connection with its tokens, and the records and invocation history it
    /// produced, in one transaction (a later connection of the same name starts clean).
    pub(crate) fn delete_connection(&self, name: &str) -> Result<(), StoreError> {
        // Rows still queued for this connection must not outlive it.
        self.flush_history();
        let mut conn = self.conn();
        let tx = conn
            .write_transaction()
            .map_err(StoreError::sql("deleting a connection"))?;
        let n = tx
            .execute(
                "DELETE FROM connections WHERE name = ?1 AND kind = 'connector'",
                [name],
            )
            .map_err(StoreError::sql("deleting a connection"))?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "connection",
                name: name.to_string(),
            });
        }
        for sql in [
            "DELETE FROM records WHERE connection = ?1",
            "DELETE FROM invocations WHERE connection = ?1",
            "DELETE FROM stream_state WHERE connection = ?1",
            "DELETE FROM stream_runs WHERE connection = ?1",
            "DELETE FROM webhook_deliveries WHERE connection = ?1",
        ] {
            tx.execute(sql, [name])
                .map_err(StoreError::sql("deleting a connection's records"))?;
        }
        tx.commit()
            .map_err(StoreError::sql("deleting a connection"))?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::MasterKey;
    use secrecy::ExposeSecret;

    #[test]
    fn a_write_waits_for_another_connections_commit_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let store = std::sync::Arc::new(Store::open_with_key(dir.path(), &key).unwrap());
        // Another connection (another process, or the history writer) is mid-write.
        let other = Store::open_with_key(dir.path(), &key).unwrap();
        let mut conn = other.conn();
        let tx = conn.write_transaction().unwrap();
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('probe', ?1)",
            [vec![0u8]],
        )
        .unwrap();
        let s = store.clone();
        let create = std::thread::spawn(move || s.create_connection(&new_conn("late")));
        std::thread::sleep(std::time::Duration::from_millis(300));
        tx.commit().unwrap();
        // Begun deferred, the creation read first, then found the snapshot stale on its
        // write (BUSY_SNAPSHOT, at once, whatever the busy timeout).
        let created = create.join().unwrap();
        assert!(created.is_ok(), "{created:?}");
    }

    pub(crate) fn new_conn(name: &str) -> NewConnection {
        let mut settings = serde_json::Map::new();
        settings.insert("subdomain".into(), "acme".into());
        let mut secret_settings = BTreeMap::new();
        secret_settings.insert("apiKey".into(), SecretString::from("canary-setting-value"));
        NewConnection {
            auth_option: None,
            name: name.into(),
            connector: "connectors/hello".into(),
            credential_key: Some("hello-app".into()),
            settings,
            secret_settings,
        }
    }

    #[test]
    fn create_list_read_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        let rec = store.create_connection(&new_conn("acme-prod")).unwrap();
        assert_eq!(rec.status, ConnectionStatus::PendingAuthorization);
        assert_eq!(rec.secret_setting_keys, vec!["apiKey".to_string()]);
        assert_eq!(rec.settings["subdomain"], "acme");
        let err = store.create_connection(&new_conn("acme-prod")).unwrap_err();
        assert!(err.to_string().contains("already exists"));
        let secrets = store.secret_settings(&rec.id).unwrap();
        assert_eq!(secrets["apiKey"].expose_secret(), "canary-setting-value");
        assert_eq!(store.list_connections().unwrap().len(), 1);
        store.delete_connection("acme-prod").unwrap();
        assert!(matches!(
            store.connection_by_name("acme-prod"),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn names_are_validated() {
        for bad in ["", "Acme", "a b", "-a", "a-", "a_b"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        validate_name("acme-2").unwrap();
    }

    #[test]
    fn secret_setting_moved_to_another_connection_fails_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        let a = store.create_connection(&new_conn("a")).unwrap();
        let b = store.create_connection(&new_conn("b")).unwrap();
        store
            .conn()
            .execute(
                "UPDATE connection_secrets SET value =
                   (SELECT value FROM connection_secrets WHERE connection_id = ?1)
                 WHERE connection_id = ?2",
                params![a.id, b.id],
            )
            .unwrap();
        let err = store.secret_settings(&b.id).unwrap_err();
        assert!(err.to_string().contains("cannot be opened"), "{err}");
        store.secret_settings(&a.id).unwrap();
    }
}
