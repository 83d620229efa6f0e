//! A connection's settings after creation: its secret settings, sealed one row per field
//! in `connection_secrets`, opened for an invocation; and replacing the settings of an
//! existing connection (plain and secret together, in one transaction).
//!
//! Owns: the rows of `connection_secrets` and the settings column's updates.
//! Must not: validate settings (callers hand over validated ones) or store a secret
//! setting unsealed.

use std::collections::BTreeMap;

use super::db::{Tx, params};
use secrecy::{ExposeSecret, SecretString};

use super::crypto::Sealer;
use super::{Aad, Store, StoreError, now_unix};

/// Seals and inserts one secret setting of the connection `id`.
pub(super) fn insert(
    tx: &Tx<'_>,
    sealer: &Sealer,
    id: &str,
    key: &str,
    value: &SecretString,
) -> Result<(), StoreError> {
    let aad_id = format!("{id}/{key}");
    let blob = sealer.seal_str(
        Aad::new("connection_secrets", &aad_id, "value"),
        value.expose_secret(),
    );
    tx.execute(
        "INSERT INTO connection_secrets (connection_id, key, value) VALUES (?1, ?2, ?3)",
        params![id, key, blob],
    )
    .map_err(StoreError::sql("storing a secret setting"))?;
    Ok(())
}

impl Store {
    /// The connection's secret settings, opened.
    pub fn secret_settings(
        &self,
        connection_id: &str,
    ) -> Result<BTreeMap<String, SecretString>, StoreError> {
        let rows: Vec<(String, Vec<u8>)> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT key, value FROM connection_secrets WHERE connection_id = ?1")
                .map_err(StoreError::sql("reading secret settings"))?;
            stmt.query_map([connection_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(StoreError::sql("reading secret settings"))?
        };
        let sealer = self.sealer();
        let mut out = BTreeMap::new();
        for (key, blob) in rows {
            let aad_id = format!("{connection_id}/{key}");
            let value = sealer.open_str(Aad::new("connection_secrets", &aad_id, "value"), &blob)?;
            out.insert(key, value);
        }
        Ok(out)
    }

    /// Replaces every setting of the connection `connection_id` (of connector
    /// `connector`): the plain ones and the sealed secret ones, with the configuration's
    /// digest, in one transaction. Tokens and status are left as they are.
    pub(crate) fn replace_settings(
        &self,
        connection_id: &str,
        connector: &str,
        auth_option: Option<&str>,
        settings: &serde_json::Map<String, serde_json::Value>,
        secret_settings: &BTreeMap<String, SecretString>,
    ) -> Result<(), StoreError> {
        let sealer = self.sealer();
        let text = serde_json::Value::Object(settings.clone()).to_string();
        let digest = self.connection_digest(connector, auth_option, settings, secret_settings);
        let mut conn = self.conn();
        let tx = conn
            .write_transaction()
            .map_err(StoreError::sql("updating settings"))?;
        let n = tx
            .execute(
                "UPDATE connections SET settings = ?2, config_hash = ?3, updated_at = ?4
                 WHERE id = ?1",
                params![connection_id, text, digest, now_unix()],
            )
            .map_err(StoreError::sql("updating settings"))?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "connection",
                name: connection_id.to_string(),
            });
        }
        tx.execute(
            "DELETE FROM connection_secrets WHERE connection_id = ?1",
            [connection_id],
        )
        .map_err(StoreError::sql("updating settings"))?;
        for (key, value) in secret_settings {
            insert(&tx, &sealer, connection_id, key, value)?;
        }
        tx.commit().map_err(StoreError::sql("updating settings"))
    }
}
