//! App connections: application-level OAuth connections an operator defines once by name
//! and routes use by name. Each is a `connections` row of kind `app` (tokens, states,
//! leases, refresh and revocation are the connection machinery's own) plus its endpoints
//! in `app_connections`, and its client credentials under the credential key `app:<name>`
//! (sealed like any client secret; `credentials set` cannot write that key).
//!
//! Owns: the `app_connections` table and the creation, update and deletion of the three
//! rows together.
//! Must not: resolve endpoints (discovery is `oauth`'s) or keep a client secret unsealed.

use super::db::{OptionalExtension, Tx, params};
use secrecy::{ExposeSecret, SecretString};

use super::connections::{refuse_taken_name, validate_name};
use super::{Aad, ConnectionRecord, ConnectionStatus, Store, StoreError, SubKey, new_id, now_unix};

/// What an operator configures for an app connection. `Debug` hides the client secret.
#[derive(Clone)]
pub struct AppConnectionConfig {
    pub provider_url: String,
    pub issuer_url: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    /// Scopes requested when `authorize` names none.
    pub scopes: Vec<String>,
    pub client_id: String,
    pub client_secret: SecretString,
}

impl std::fmt::Debug for AppConnectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConnectionConfig")
            .field("provider_url", &self.provider_url)
            .field("issuer_url", &self.issuer_url)
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("scopes", &self.scopes)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl AppConnectionConfig {
    /// A keyed digest (HMAC-SHA256 under `key`) of everything configured, the client
    /// secret included so a rotated secret counts as a change, over a length-prefixed
    /// encoding of each field. Keyed, because the column is plain text and a client
    /// secret may be weak. After a master-key rotation every digest differs once.
    pub(crate) fn digest(&self, key: &SubKey) -> String {
        let scopes = self.scopes.join(" ");
        key.digest(&[
            Some(&self.provider_url),
            self.issuer_url.as_deref(),
            self.auth_url.as_deref(),
            self.token_url.as_deref(),
            Some(&scopes),
            Some(&self.client_id),
            Some(self.client_secret.expose_secret()),
        ])
    }
}

/// Writes (or replaces) an app connection's endpoints and digest.
fn write_endpoints(
    tx: &Tx<'_>,
    id: &str,
    config: &AppConnectionConfig,
    digest: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO app_connections (connection_id, provider_url, issuer_url, auth_url,
            token_url, scopes, config_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(connection_id) DO UPDATE SET provider_url = excluded.provider_url,
            issuer_url = excluded.issuer_url, auth_url = excluded.auth_url,
            token_url = excluded.token_url, scopes = excluded.scopes,
            config_hash = excluded.config_hash",
        params![
            id,
            config.provider_url,
            config.issuer_url,
            config.auth_url,
            config.token_url,
            serde_json::Value::from(config.scopes.clone()).to_string(),
            digest
        ],
    )
    .map_err(StoreError::sql("storing an app connection's endpoints"))?;
    Ok(())
}

/// An app connection as stored: its connection row and its endpoints (no secret).
#[derive(Debug, Clone)]
pub struct AppConnectionRow {
    pub connection: ConnectionRecord,
    pub provider_url: String,
    pub issuer_url: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub config_hash: String,
}

/// The credential key an app connection's client id and secret are stored under.
pub fn credential_key(name: &str) -> String {
    format!("app:{name}")
}

fn write_credentials(
    tx: &Tx<'_>,
    store: &Store,
    name: &str,
    config: &AppConnectionConfig,
    now: i64,
) -> Result<(), StoreError> {
    let key = credential_key(name);
    let sealed = store.sealer().seal_str(
        Aad::new("credentials", &key, "client_secret"),
        config.client_secret.expose_secret(),
    );
    tx.execute(
        "INSERT INTO credentials (key, client_id, client_secret, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT(key) DO UPDATE SET client_id = excluded.client_id,
            client_secret = excluded.client_secret, updated_at = excluded.updated_at",
        params![key, config.client_id, sealed, now],
    )
    .map_err(StoreError::sql("storing an app connection's credentials"))?;
    Ok(())
}

impl Store {
    /// Creates the app connection `name`, not yet authorized. The name is shared with
    /// connector connections: one name means one connection.
    pub fn create_app_connection(
        &self,
        name: &str,
        config: &AppConnectionConfig,
    ) -> Result<AppConnectionRow, StoreError> {
        validate_name(name)?;
        let id = new_id("app");
        let now = now_unix();
        {
            let mut conn = self.conn();
            let tx = conn
                .write_transaction()
                .map_err(StoreError::sql("creating an app connection"))?;
            refuse_taken_name(&tx, name)?;
            tx.execute(
                "INSERT INTO connections (id, name, connector, credential_key, status, kind,
                    created_at, updated_at) VALUES (?1, ?2, '', ?3, ?4, 'app', ?5, ?5)",
                params![
                    id,
                    name,
                    credential_key(name),
                    ConnectionStatus::PendingAuthorization.as_str(),
                    now
                ],
            )
            .map_err(StoreError::sql("creating an app connection"))?;
            write_endpoints(&tx, &id, config, &config.digest(&self.config_key))?;
            write_credentials(&tx, self, name, config, now)?;
            tx.commit()
                .map_err(StoreError::sql("creating an app connection"))?;
        }
        self.app_connection(name)
    }

    /// Replaces the configuration of the app connection `name`. Its tokens stay: a
    /// changed endpoint or client is used from the next refresh, and an operator who
    /// changed the provider re-authorizes.
    pub fn update_app_connection(
        &self,
        name: &str,
        config: &AppConnectionConfig,
    ) -> Result<AppConnectionRow, StoreError> {
        let current = self.app_connection(name)?;
        let now = now_unix();
        {
            let mut conn = self.conn();
            let tx = conn
                .write_transaction()
                .map_err(StoreError::sql("updating an app connection"))?;
            write_endpoints(
                &tx,
                &current.connection.id,
                config,
                &config.digest(&self.config_key),
            )?;
            tx.execute(
                "UPDATE connections SET updated_at = ?2 WHERE id = ?1",
                params![current.connection.id, now],
            )
            .map_err(StoreError::sql("updating an app connection"))?;
            write_credentials(&tx, self, name, config, now)?;
            tx.commit()
                .map_err(StoreError::sql("updating an app connection"))?;
        }
        self.app_connection(name)
    }

    /// The app connection `name`.
    pub fn app_connection(&self, name: &str) -> Result<AppConnectionRow, StoreError> {
        let id: Option<String> = self
            .conn()
            .query_row(
                "SELECT id FROM connections WHERE name = ?1 AND kind = 'app'",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::sql("reading an app connection"))?;
        let id = id.ok_or_else(|| StoreError::NotFound {
            what: "app connection",
            name: name.to_string(),
        })?;
        self.app_connection_by_id(&id)
    }

    /// The app connection whose connection row is `id`.
    pub fn app_connection_by_id(&self, id: &str) -> Result<AppConnectionRow, StoreError> {
        let connection = self.connection_by_id(id)?;
        type Row = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
            String,
            Option<String>,
        );
        let row: Option<Row> = self
            .conn()
            .query_row(
                "SELECT a.provider_url, a.issuer_url, a.auth_url, a.token_url, a.scopes,
                    a.config_hash, k.client_id
                 FROM app_connections a LEFT JOIN credentials k ON k.key = ?2
                 WHERE a.connection_id = ?1",
                params![id, credential_key(&connection.name)],
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
            .map_err(StoreError::sql("reading an app connection"))?;
        let (provider_url, issuer_url, auth_url, token_url, scopes, config_hash, client_id) =
            row.ok_or_else(|| StoreError::NotFound {
                what: "app connection",
                name: connection.name.clone(),
            })?;
        Ok(AppConnectionRow {
            connection,
            provider_url,
            issuer_url,
            auth_url,
            token_url,
            scopes: serde_json::from_str(&scopes).unwrap_or_default(),
            client_id: client_id.unwrap_or_default(),
            config_hash,
        })
    }

    /// Every app connection, by name.
    pub fn list_app_connections(&self) -> Result<Vec<AppConnectionRow>, StoreError> {
        let ids: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT id FROM connections WHERE kind = 'app' ORDER BY name")
                .map_err(StoreError::sql("listing app connections"))?;
            stmt.query_map((), |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<_, _>>())
                .map_err(StoreError::sql("listing app connections"))?
        };
        ids.iter().map(|id| self.app_connection_by_id(id)).collect()
    }

    /// Deletes the app connection `name` with its tokens, states and credentials.
    pub fn delete_app_connection(&self, name: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .write_transaction()
            .map_err(StoreError::sql("deleting an app connection"))?;
        let n = tx
            .execute(
                "DELETE FROM connections WHERE name = ?1 AND kind = 'app'",
                [name],
            )
            .map_err(StoreError::sql("deleting an app connection"))?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "app connection",
                name: name.to_string(),
            });
        }
        tx.execute(
            "DELETE FROM credentials WHERE key = ?1",
            [credential_key(name)],
        )
        .map_err(StoreError::sql("deleting an app connection"))?;
        tx.commit()
            .map_err(StoreError::sql("deleting an app connection"))?;
        Ok(())
    }
}

/// The names of the app connections defined in the store at `url`, read without opening
/// the store for writing (no master key, no migration, nothing created); `None` when there
/// is no store there, or it predates app connections.
pub fn defined_names_readonly(
    url: &super::DatabaseUrl,
) -> Result<Option<std::collections::BTreeSet<String>>, StoreError> {
    let read = StoreError::sql("reading app connection names");
    let (conn, has_kind_sql) = match url {
        super::DatabaseUrl::Sqlite(path) => {
            if !path.is_file() {
                return Ok(None);
            }
            let conn = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(StoreError::sql(
                "opening the store to read app connection names",
            ))?;
            (
                super::db::Db::Sqlite(conn),
                "SELECT COUNT(*) > 0 FROM pragma_table_info('connections') WHERE name = 'kind'",
            )
        }
        super::DatabaseUrl::Postgres(config) => (
            super::db::Db::Postgres(super::db::PgConn::connect(config).map_err(
                StoreError::sql("opening the store to read app connection names"),
            )?),
            "SELECT COUNT(*) > 0 FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'connections'
               AND column_name = 'kind'",
        ),
    };
    let has_kind: bool = conn
        .query_row(has_kind_sql, (), |r| r.get(0))
        .map_err(StoreError::sql("reading the store's schema"))?;
    if !has_kind {
        return Ok(None);
    }
    let names = conn
        .query_map("SELECT name FROM connections WHERE kind = 'app'", (), |r| {
            r.get(0)
        })
        .map_err(read)?;
    Ok(Some(names.into_iter().collect()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::MasterKey;
    use crate::store::connections::tests::new_conn;

    pub(crate) fn config(secret: &str) -> AppConnectionConfig {
        AppConnectionConfig {
            provider_url: "https://idp.test".into(),
            issuer_url: Some("https://idp.test".into()),
            auth_url: None,
            token_url: None,
            scopes: vec!["openid".into()],
            client_id: "cid".into(),
            client_secret: SecretString::from(secret.to_string()),
        }
    }

    #[test]
    fn created_listed_updated_and_deleted_apart_from_connector_connections() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        store.create_connection(&new_conn("crm")).unwrap();
        let app = store
            .create_app_connection("google-oauth", &config("s3cret-canary"))
            .unwrap();
        assert!(app.connection.app);
        assert_eq!(app.client_id, "cid");
        // Names are one namespace; each kind stays out of the other's lookups.
        let err = store
            .create_app_connection("crm", &config("x"))
            .unwrap_err();
        assert!(
            err.to_string().contains("connector connection `crm`"),
            "{err}"
        );
        let err = store
            .create_connection(&new_conn("google-oauth"))
            .unwrap_err();
        assert!(err.to_string().contains("app connection"), "{err}");
        assert!(store.connection_by_name("google-oauth").is_err());
        assert!(store.list_connections().unwrap().iter().all(|c| !c.app));
        assert!(store.app_connection("crm").is_err());
        assert!(store.list_credentials().unwrap().is_empty());
        // The secret is sealed and opens under the app key.
        let creds = store.credentials(&credential_key("google-oauth")).unwrap();
        assert_eq!(
            creds.client_secret.unwrap().expose_secret(),
            "s3cret-canary"
        );
        let raw = crate::store::test_backend::everything_stored(&store);
        assert!(!raw.windows(13).any(|w| w == b"s3cret-canary"));
        // A changed secret is a changed hash.
        let before = app.config_hash.clone();
        let same = store
            .update_app_connection("google-oauth", &config("s3cret-canary"))
            .unwrap();
        assert_eq!(same.config_hash, before);
        let changed = store
            .update_app_connection("google-oauth", &config("rotated"))
            .unwrap();
        assert_ne!(changed.config_hash, before);
        assert!(!changed.config_hash.contains("rotated"));
        // The digest is keyed: the same configuration under another master key (or a
        // plain SHA-256 of the fields) gives another value, so the column cannot be used
        // to guess a weak secret offline.
        let other_dir = tempfile::tempdir().unwrap();
        let other = Store::open_with_key(other_dir.path(), &MasterKey::generate()).unwrap();
        let elsewhere = other
            .create_app_connection("google-oauth", &config("rotated"))
            .unwrap();
        assert_ne!(elsewhere.config_hash, changed.config_hash);
        assert_eq!(store.list_app_connections().unwrap().len(), 1);
        assert!(store.delete_connection("google-oauth").is_err());
        store.delete_app_connection("google-oauth").unwrap();
        assert!(store.credentials(&credential_key("google-oauth")).is_err());
        assert!(store.list_app_connections().unwrap().is_empty());
        assert!(store.connection_by_name("crm").is_ok());
    }
}
