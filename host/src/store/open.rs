//! Opening the store: the database its URL names (creating and migrating it), the master
//! key that must open what is already sealed there (or a new one for an empty store), and
//! on PostgreSQL the listening connection that hears other replicas.
//!
//! Owns: `Store::open*`, `finish_open`, the key check's read, and how an error names the
//! database.
//! Must not: create a key over data sealed with another one.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use super::db::{self, DatabaseUrl, Db, OptionalExtension};
use super::*;

impl Store {
    /// Opens (creating if needed) the store in `data_dir`, with the master key from the
    /// environment or the key file. Refuses to start when the key cannot open existing data.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Self::open_at(data_dir, &default_url(data_dir))
    }

    /// [`Store::open`] with the database at `database`, when one is named.
    pub fn open_in(data_dir: &Path, database: Option<&DatabaseUrl>) -> Result<Store, StoreError> {
        match database {
            Some(url) => Self::open_at(data_dir, url),
            None => Self::open(data_dir),
        }
    }

    /// [`Store::open`] with the database at `url` (the master key and the component cache
    /// stay in `data_dir`).
    pub fn open_at(data_dir: &Path, url: &DatabaseUrl) -> Result<Store, StoreError> {
        create_dir(data_dir)?;
        let conn = open_db(url)?;
        let has_sealed_data = read_key_check(&conn)?.is_some();
        let key_file = data_dir.join(crypto::KEY_FILE);
        if has_sealed_data
            && std::env::var_os(crypto::MASTER_KEY_ENV).is_none()
            && !key_file.exists()
        {
            return Err(StoreError::MissingMasterKey {
                db: describe(url),
                key_file,
            });
        }
        let (key, origin) = MasterKey::load_or_create(data_dir)?;
        match Self::finish_open(conn, key, origin.clone(), data_dir, url) {
            Err(StoreError::WrongMasterKey { .. }) if matches!(origin, KeyOrigin::File(_)) => {
                rotate::recover_interrupted_rotation(data_dir, url)
            }
            other => other,
        }
    }

    /// Opens the store with an explicitly supplied key (tests, rotation).
    pub fn open_with_key(data_dir: &Path, key: &MasterKey) -> Result<Store, StoreError> {
        Self::open_with_key_at(data_dir, &default_url(data_dir), key)
    }

    /// [`Store::open_with_key`] with the database at `url`.
    pub fn open_with_key_at(
        data_dir: &Path,
        url: &DatabaseUrl,
        key: &MasterKey,
    ) -> Result<Store, StoreError> {
        create_dir(data_dir)?;
        let conn = open_db(url)?;
        Self::finish_open(conn, key.clone(), KeyOrigin::Explicit, data_dir, url)
    }

    pub(crate) fn finish_open(
        mut conn: Db,
        key: MasterKey,
        origin: KeyOrigin,
        data_dir: &Path,
        url: &DatabaseUrl,
    ) -> Result<Store, StoreError> {
        let sealer = Sealer::new(&key);
        let cache_key = key.derive_subkey(crypto::COMPONENT_CACHE_LABEL);
        let config_key = key.derive_subkey(crypto::CONFIG_DIGEST_LABEL);
        match read_key_check(&conn)? {
            Some(blob) => {
                if sealer.open(key_check_aad(), &blob).is_err() {
                    return Err(StoreError::WrongMasterKey {
                        origin,
                        db: describe(url),
                    });
                }
                migrations::apply(&mut conn)?;
            }
            None => {
                migrations::apply(&mut conn)?;
                let blob = sealer.seal_str(key_check_aad(), KEY_CHECK_PLAINTEXT);
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                    db::params![KEY_CHECK, blob],
                )
                .map_err(StoreError::sql("writing the key check"))?;
            }
        }
        let changes = changes::ChangeWatch::new(url.clone());
        changes.hook(&conn);
        let (listener, refresh_events) = match url {
            DatabaseUrl::Sqlite(_) => (None, None),
            DatabaseUrl::Postgres(config) => {
                let announced = changes.announcements();
                let (events, _) = tokio::sync::watch::channel(0u64);
                let sender = events.clone();
                let on: db::OnNotification = Box::new(move |note| {
                    let (changes, refresh) = match note {
                        Some((channel, _)) => {
                            (channel == CHANGES_CHANNEL, channel == REFRESH_CHANNEL)
                        }
                        // Reconnected: whatever was sent meanwhile is looked at again.
                        None => (true, true),
                    };
                    if changes {
                        announced.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    }
                    if refresh {
                        sender.send_modify(|n| *n = n.wrapping_add(1));
                    }
                });
                let listener = db::listen(config, &[CHANGES_CHANNEL, REFRESH_CHANNEL], on)
                    .map_err(StoreError::sql("listening for other replicas' changes"))?;
                (Some(listener), Some(events))
            }
        };
        Ok(Store {
            conn: Mutex::new(conn),
            changes,
            _listener: listener,
            refresh_events,
            stream_lease_ms: std::sync::atomic::AtomicU64::new(
                u64::try_from(STREAM_LEASE.as_millis()).unwrap_or(u64::MAX),
            ),
            history: OnceLock::new(),
            history_retention: Arc::default(),
            sealer: std::sync::RwLock::new(sealer),
            cache_key,
            config_key,
            url: url.clone(),
            data_dir: data_dir.to_path_buf(),
            key_origin: origin,
        })
    }
}

fn create_dir(data_dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    })
}

/// Opens a connection to the store's database (the main one, the history writer's, the
/// change watch's).
pub(crate) fn open_db(url: &DatabaseUrl) -> Result<Db, StoreError> {
    match url {
        DatabaseUrl::Sqlite(path) => db::open_sqlite(path).map(Db::Sqlite),
        DatabaseUrl::Postgres(config) => db::PgConn::connect(config).map(Db::Postgres),
    }
    .map_err(StoreError::sql("opening the database"))
}

/// The database of the store in `data_dir` when none is named: `keyway.db` there (in the
/// crate's tests, the backend they run on).
fn default_url(data_dir: &Path) -> DatabaseUrl {
    #[cfg(test)]
    if let Some(url) = test_backend::database_for(data_dir) {
        return url;
    }
    DatabaseUrl::sqlite_in(data_dir)
}

/// How errors name the database: the SQLite file's path, or the URL without password.
pub(crate) fn describe(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Sqlite(path) => path.display().to_string(),
        other => other.to_string(),
    }
}

pub(crate) fn read_key_check(conn: &Db) -> Result<Option<Vec<u8>>, StoreError> {
    let sql = match conn.dialect() {
        db::Dialect::Sqlite => {
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        }
        db::Dialect::Postgres => "SELECT to_regclass('meta') IS NOT NULL",
    };
    let has_meta: bool = conn
        .query_row(sql, (), |r| r.get(0))
        .map_err(StoreError::sql("inspecting the schema"))?;
    if !has_meta {
        return Ok(None);
    }
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [KEY_CHECK], |r| {
        r.get(0)
    })
    .optional()
    .map_err(StoreError::sql("reading the key check"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_key_refuses_to_open_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        drop(Store::open_with_key(dir.path(), &key).unwrap());
        let err = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap_err();
        assert!(matches!(err, StoreError::WrongMasterKey { .. }), "{err}");
        assert!(err.to_string().contains("refusing to start"));
        Store::open_with_key(dir.path(), &key).unwrap();
    }

    #[test]
    fn key_file_created_on_first_use_and_reused() {
        // Only meaningful when the environment does not carry a key.
        if std::env::var_os(crypto::MASTER_KEY_ENV).is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(matches!(s.key_origin(), KeyOrigin::Created(_)));
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert!(matches!(s.key_origin(), KeyOrigin::File(_)));
        drop(s);
        std::fs::remove_file(dir.path().join(crypto::KEY_FILE)).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::MissingMasterKey { .. }), "{err}");
        assert!(!dir.path().join(crypto::KEY_FILE).exists());
    }
}
