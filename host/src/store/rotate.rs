//! Master key rotation: every sealed value is opened with the current key and sealed again
//! under a new one in a single transaction, so the database is never half old, half new.
//!
//! Owns: `Store::rotate_key` (the re-sealing) and `Store::rotate_key_file` (the key-file
//! dance: write `master.key.next`, commit, then rename it over `master.key`), and finishing a
//! rotation that crashed between the commit and the rename.
//! Must not: print or return key material, or delete a key that still opens committed data.

use std::path::Path;

use super::db::{Tx, params};

use super::crypto::{self, KEY_FILE, KeyOrigin, MasterKey, NEXT_KEY_FILE, Sealer};
use super::{
    Aad, DatabaseUrl, Store, StoreError, describe, key_check_aad, key_check_plaintext, open_db,
};

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct RotationReport {
    /// Number of sealed values re-sealed (including the key check).
    pub resealed: usize,
}

/// One sealed column: (table, key columns, sealed column, how the AAD id is built).
struct Column {
    table: &'static str,
    select: &'static str,
    update: &'static str,
    field: &'static str,
}

const COLUMNS: &[Column] = &[
    Column {
        table: "credentials",
        select: "SELECT key, NULL, client_secret FROM credentials WHERE client_secret IS NOT NULL",
        update: "UPDATE credentials SET client_secret = ?2 WHERE key = ?1",
        field: "client_secret",
    },
    Column {
        table: "connection_secrets",
        select: "SELECT connection_id, key, value FROM connection_secrets",
        update: "UPDATE connection_secrets SET value = ?3 WHERE connection_id = ?1 AND key = ?2",
        field: "value",
    },
    Column {
        table: "tokens",
        select: "SELECT connection_id, NULL, access_token FROM tokens",
        update: "UPDATE tokens SET access_token = ?2 WHERE connection_id = ?1",
        field: "access_token",
    },
    Column {
        table: "tokens",
        select: "SELECT connection_id, NULL, refresh_token FROM tokens WHERE refresh_token IS NOT NULL",
        update: "UPDATE tokens SET refresh_token = ?2 WHERE connection_id = ?1",
        field: "refresh_token",
    },
    Column {
        table: "oauth_states",
        select: "SELECT state_hash, NULL, pkce_verifier FROM oauth_states WHERE pkce_verifier IS NOT NULL",
        update: "UPDATE oauth_states SET pkce_verifier = ?2 WHERE state_hash = ?1",
        field: "pkce_verifier",
    },
    Column {
        table: "authorization_returns",
        select: "SELECT state_hash, NULL, return_to FROM authorization_returns",
        update: "UPDATE authorization_returns SET return_to = ?2 WHERE state_hash = ?1",
        field: "return_to",
    },
];

fn reseal_all(tx: &Tx<'_>, old: &Sealer, new: &Sealer) -> Result<usize, StoreError> {
    let mut count = 0;
    for col in COLUMNS {
        let rows: Vec<(String, Option<String>, Vec<u8>)> = {
            let mut stmt = tx
                .prepare(col.select)
                .map_err(StoreError::sql("reading sealed values for rotation"))?;
            stmt.query_map((), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(|rows| rows.collect())
                .map_err(StoreError::sql("reading sealed values for rotation"))?
        };
        for (id, sub, blob) in rows {
            let aad_id = match &sub {
                Some(sub) => format!("{id}/{sub}"),
                None => id.clone(),
            };
            let aad = Aad::new(col.table, &aad_id, col.field);
            let plain = old.open(aad, &blob)?;
            let resealed = new.seal(aad, &plain);
            // The key columns, then the value (`?2` or `?3`, as the statement has one
            // key column or two).
            match &sub {
                Some(sub) => tx.execute(col.update, params![id, sub, resealed]),
                None => tx.execute(col.update, params![id, resealed]),
            }
            .map_err(StoreError::sql("writing re-sealed values"))?;
            count += 1;
        }
    }
    let check = new.seal_str(key_check_aad(), key_check_plaintext());
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'key_check'",
        params![check],
    )
    .map_err(StoreError::sql("writing the key check"))?;
    Ok(count + 1)
}

impl Store {
    /// Re-seals every secret under `new_key` in one transaction and switches this handle to
    /// it. The caller is responsible for making `new_key` available to the next start.
    pub fn rotate_key(&self, new_key: &MasterKey) -> Result<RotationReport, StoreError> {
        let old = self.sealer();
        let new = Sealer::new(new_key);
        let mut conn = self.conn();
        let tx = conn
            .write_transaction()
            .map_err(StoreError::sql("starting the rotation"))?;
        let resealed = reseal_all(&tx, &old, &new)?;
        tx.commit()
            .map_err(StoreError::sql("committing the rotation"))?;
        drop(conn);
        self.replace_sealer(new);
        Ok(RotationReport { resealed })
    }

    /// Rotation for a store whose key lives in `master.key`: a new key is written to
    /// `master.key.next` (0600) first, the data is re-sealed, then the file is renamed over
    /// `master.key`. A crash at any point leaves a key that opens the data.
    pub(crate) fn rotate_key_file(&self) -> Result<RotationReport, StoreError> {
        let dir = self.data_dir().to_path_buf();
        if !matches!(
            self.key_origin(),
            KeyOrigin::File(_) | KeyOrigin::Created(_)
        ) {
            return Err(StoreError::Invalid {
                what: "key source",
                value: self.key_origin().to_string(),
                reason: "the key does not come from a key file; pass the new key through an environment variable instead",
            });
        }
        let next = dir.join(NEXT_KEY_FILE);
        if next.exists() {
            // The current key opens the data (we are open), so a leftover next key never
            // sealed anything committed: it is safe to discard.
            std::fs::remove_file(&next).map_err(|source| {
                StoreError::Crypto(crypto::CryptoError::KeyFile {
                    path: next.clone(),
                    source,
                })
            })?;
        }
        let key = MasterKey::generate();
        crypto::write_new_key_file(&next, &key)?;
        let report = self.rotate_key(&key)?;
        std::fs::rename(&next, dir.join(KEY_FILE)).map_err(|source| {
            StoreError::Crypto(crypto::CryptoError::KeyFile {
                path: next.clone(),
                source,
            })
        })?;
        Ok(report)
    }
}

/// Called when `master.key` cannot open the data: if `master.key.next` can, a rotation
/// committed but did not get to rename the file; finish it and open the store.
pub(crate) fn recover_interrupted_rotation(
    data_dir: &Path,
    url: &DatabaseUrl,
) -> Result<Store, StoreError> {
    let key_path = data_dir.join(KEY_FILE);
    let next = data_dir.join(NEXT_KEY_FILE);
    let wrong = || StoreError::WrongMasterKey {
        origin: KeyOrigin::File(key_path.clone()),
        db: describe(url),
    };
    if !next.exists() {
        return Err(wrong());
    }
    let key = crypto::read_key_file(&next)?;
    let conn = open_db(url)?;
    match Store::finish_open(conn, key, KeyOrigin::File(key_path.clone()), data_dir, url) {
        Ok(store) => {
            std::fs::rename(&next, &key_path).map_err(|source| {
                StoreError::Crypto(crypto::CryptoError::KeyFile {
                    path: next.clone(),
                    source,
                })
            })?;
            Ok(store)
        }
        Err(StoreError::WrongMasterKey { .. }) => Err(wrong()),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use secrecy::{ExposeSecret, SecretString};

    use super::*;
    use crate::store::connections::tests::new_conn;
    use crate::store::{ConnectionStatus, TokenWrite, now_unix};

    fn seeded(dir: &Path, key: &MasterKey) -> (Store, String) {
        let store = Store::open_with_key(dir, key).unwrap();
        store
            .set_credentials("app", "cid", Some(&SecretString::from("canary-secret")))
            .unwrap();
        let c = store.create_connection(&new_conn("a")).unwrap();
        store
            .save_authorized_tokens(
                &c.id,
                &TokenWrite {
                    access_token: SecretString::from("canary-at"),
                    refresh_token: Some(SecretString::from("canary-rt")),
                    token_type: None,
                    expires_at: Some(now_unix() + 60),
                    scopes: None,
                },
                &[],
                &BTreeMap::new(),
            )
            .unwrap();
        store
            .insert_state(&crate::store::states::NewState {
                state: "st",
                connection_id: &c.id,
                pkce_verifier: Some(&SecretString::from("v")),
                redirect_uri: "http://x",
                scopes: &[],
                nonce: None,
                expires_at: now_unix() + 60,
            })
            .unwrap();
        store
            .remember_authorization_return("st", "/console/back", now_unix(), now_unix() + 60)
            .unwrap();
        (store, c.id)
    }

    #[test]
    fn rotation_reseals_everything_and_old_key_stops_working() {
        let dir = tempfile::tempdir().unwrap();
        let old = MasterKey::generate();
        let (store, id) = seeded(dir.path(), &old);
        let new = MasterKey::generate();
        let report = store.rotate_key(&new).unwrap();
        // client secret, secret setting, access, refresh, pkce verifier, return page, key
        // check
        assert_eq!(report.resealed, 7);
        // This handle keeps working.
        let t = store.tokens(&id).unwrap().unwrap();
        assert_eq!(t.refresh_token.unwrap().expose_secret(), "canary-rt");
        drop(store);
        assert!(matches!(
            Store::open_with_key(dir.path(), &old),
            Err(StoreError::WrongMasterKey { .. })
        ));
        let reopened = Store::open_with_key(dir.path(), &new).unwrap();
        assert_eq!(
            reopened
                .credentials("app")
                .unwrap()
                .client_secret
                .unwrap()
                .expose_secret(),
            "canary-secret"
        );
        assert_eq!(
            reopened.secret_settings(&id).unwrap()["apiKey"].expose_secret(),
            "canary-setting-value"
        );
        assert!(reopened.take_state("st").unwrap().is_some());
        assert_eq!(
            reopened
                .take_authorization_return("st", now_unix())
                .unwrap()
                .as_deref(),
            Some("/console/back")
        );
        assert_eq!(
            reopened.connection_by_id(&id).unwrap().status,
            ConnectionStatus::Connected
        );
    }

    #[test]
    fn key_file_rotation_and_crash_recovery() {
        if std::env::var_os(crypto::MASTER_KEY_ENV).is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let before = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        store.rotate_key_file().unwrap();
        drop(store);
        let after = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        assert_ne!(before, after);
        assert!(!dir.path().join(NEXT_KEY_FILE).exists());
        let store = Store::open(dir.path()).unwrap();

        // Simulate a crash after the commit and before the rename.
        let next_key = MasterKey::generate();
        crypto::write_new_key_file(&dir.path().join(NEXT_KEY_FILE), &next_key).unwrap();
        store.rotate_key(&next_key).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert!(!dir.path().join(NEXT_KEY_FILE).exists());
        drop(store);
        let on_disk = crypto::read_key_file(&dir.path().join(KEY_FILE)).unwrap();
        assert_eq!(on_disk.to_base64(), next_key.to_base64());
    }
}
