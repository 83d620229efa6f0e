//! The store: an embedded SQLite file in the data directory (the default), or a
//! PostgreSQL database that several `keyway serve` replicas share; versioned migrations
//! alike on both, and every secret sealed with the master key (the same ciphertext on
//! either, so `copy/` moves a store between them).
//!
//! Owns: opening the database (`open.rs`; `db/` is the one layer both backends answer
//! through), checking that the master key opens existing data, the row types of
//! connections, credentials, tokens, authorization states, leases and ingested records
//! (one file each), re-sealing under a new key, and the invocation history, committed by a
//! writer thread behind the caller (`history.rs`). Every transaction that writes takes the
//! database's write lock first (SQLite `BEGIN IMMEDIATE`, waiting out the busy timeout; on
//! PostgreSQL one advisory lock all writers take), so a read inside it cannot be
//! overtaken by another connection's commit (the history writer, another process, another
//! replica) before its writes. What replicas coordinate beyond that goes through rows and
//! notifications: refresh leases, leased deliveries, stream leases with a heartbeat.
//! Must not: hold plaintext secrets anywhere but in `SecretString`s handed to callers, put a
//! secret in an error or log line, or talk to the network but to its own database. It is
//! the bottom layer: it imports no module of the crate but `types` and `redact`
//! (`host/tests/layers.rs` checks), so it hands out key material (the component cache's
//! `SubKey`) rather than building the types of the layers above.

pub mod api_keys;
pub mod app_connections;
pub mod applied;
pub mod authorization_returns;
mod changes;
pub mod connect_sessions;
pub mod console_sessions;
pub use changes::CHANGE_CHECK;
mod connection_state;
pub mod connections;
pub mod copy;
pub mod credentials;
pub mod crypto;
pub(crate) mod db;
pub mod deliveries;
mod due;
mod expiring;
pub(crate) use due::DueReason;
mod history;
pub mod invocations;
pub(crate) mod leases;
pub(crate) mod migrations;
mod open;
pub(crate) use open::{describe, open_db, read_key_check};
mod migrations_pg;
pub mod page;
pub mod records;
mod retention;
pub(crate) mod rotate;
mod secret_settings;
pub mod states;
pub(crate) mod stream_lock;
pub mod streams;
#[cfg(test)]
pub(crate) mod test_backend;
pub mod tokens;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub use db::{DatabaseUrl, PgTarget, TlsMode};
use db::{Db, DbError};
use rand::RngCore;

pub(crate) use api_keys::ApiKeySummary;
pub(crate) use api_keys::{KeyCheck, LiveApiKeys};
pub use app_connections::{AppConnectionConfig, AppConnectionRow};
pub use applied::{AppliedKind, StoredDigest};
pub(crate) use connection_state::ProviderAccount;
pub use connections::{ConnectionRecord, ConnectionStatus, NewConnection};
pub use credentials::ClientCredentials;
pub(crate) use credentials::CredentialSummary;
pub(crate) use crypto::Aad;
pub(crate) use crypto::CryptoError;
pub(crate) use crypto::KeyOrigin;
pub use crypto::MasterKey;
pub(crate) use crypto::Sealer;
pub(crate) use crypto::SubKey;
pub(crate) use deliveries::NewDelivery;
pub use deliveries::{
    DeliveryCounts, DeliveryQuery, DeliveryRow, DeliveryStatus, QueueLimits, Queued,
};
pub(crate) use invocations::InvocationRecord;
pub use page::{Page, PageCursor};
pub(crate) use records::RecordOrder;
pub(crate) use records::RecordQuery;
pub(crate) use records::RecordTarget;
pub(crate) use records::RecordWrite;
pub use records::StoredRecord;
pub use retention::HistoryRetention;
pub use stream_lock::{STREAM_LEASE, StreamLock};
pub(crate) use streams::{CursorWrite, PageWrite};
pub use streams::{RunQuery, RunStatus, StreamRunRow, StreamStateRow};
pub(crate) use tokens::StoredTokens;
pub use tokens::TokenWrite;

/// The PostgreSQL channel the change triggers notify (migration 5).
const CHANGES_CHANNEL: &str = "keyway_changes";
/// The PostgreSQL channel a token write or a refresh lease's release notifies, with the
/// connection id.
pub(crate) const REFRESH_CHANNEL: &str = "keyway_refresh";

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "keyway.db";
const KEY_CHECK: &str = "key_check";
const KEY_CHECK_PLAINTEXT: &str = "keyway master key check v1";

/// Errors crossing the store boundary. Messages name what failed, never a secret value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create or open the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database error while {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: DbError,
    },
    #[error(transparent)]
    Migration(#[from] migrations::MigrationError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(
        "the master key from {origin} cannot open the existing data in {db}; refusing to start. \
         Restore the key that sealed this data (set KEYWAY_MASTER_KEY or put back master.key); \
         nothing was changed"
    )]
    WrongMasterKey { origin: KeyOrigin, db: String },
    #[error(
        "the database {db} holds sealed data but no master key was found (KEYWAY_MASTER_KEY is \
         unset and {key_file} is missing); refusing to create a new key over existing data"
    )]
    MissingMasterKey { db: String, key_file: PathBuf },
    #[error("{what} `{name}` not found")]
    NotFound { what: &'static str, name: String },
    #[error("{what} `{name}` already exists")]
    AlreadyExists { what: &'static str, name: String },
    #[error("invalid {what} `{value}`: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl StoreError {
    pub(crate) fn sql<E: Into<DbError>>(context: &'static str) -> impl FnOnce(E) -> StoreError {
        move |source| StoreError::Database {
            context,
            source: source.into(),
        }
    }
}

/// Handle on the store. Cheap operations run under an internal mutex; share it in an `Arc`.
pub struct Store {
    conn: Mutex<Db>,
    /// Tells callers that keep rows in memory when they changed (`changes.rs`).
    changes: changes::ChangeWatch,
    /// Commits the invocation history off the caller's path (a second connection).
    history: OnceLock<Option<history::HistoryWriter>>,
    /// On PostgreSQL, the connection that hears other replicas' changes and token writes.
    _listener: Option<db::Listener>,
    /// Moves whenever a connection's tokens are written or its refresh lease let go, by
    /// any replica (PostgreSQL only: SQLite has no one to tell).
    refresh_events: Option<tokio::sync::watch::Sender<u64>>,
    /// How long a stream's lease lasts on PostgreSQL (`stream_lock.rs`), in ms.
    stream_lease_ms: std::sync::atomic::AtomicU64,
    /// What the history writer keeps (`retention.rs`).
    history_retention: Arc<std::sync::RwLock<HistoryRetention>>,
    sealer: std::sync::RwLock<Sealer>,
    /// The compiled-component cache's sub-key of the master key this store opened with.
    cache_key: SubKey,
    /// Keys the digests of app connection configurations, which cover client secrets: an
    /// unkeyed hash of a weak secret in a plain column could be guessed offline.
    config_key: SubKey,
    url: DatabaseUrl,
    data_dir: PathBuf,
    key_origin: KeyOrigin,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.url)
            .field("key_origin", &self.key_origin)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The SQLite file the store is in; `None` on PostgreSQL.
    pub fn db_path(&self) -> Option<&Path> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => Some(path),
            DatabaseUrl::Postgres(_) => None,
        }
    }

    /// Where the store's database is.
    pub fn database_url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Moves whenever any replica writes a connection's tokens or lets its refresh lease
    /// go, for a refresh waiting on another replica to wake at once; `None` on SQLite,
    /// where waiters look again on their own.
    pub(crate) fn refresh_events(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.refresh_events.as_ref().map(|s| s.subscribe())
    }

    /// How long a stream's lease lasts without a heartbeat.
    pub(crate) fn stream_lease(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.stream_lease_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Sets how long a stream's lease lasts without a heartbeat (`[streams]
    /// lease_seconds`; tests shorten it to see heartbeats and expiries in seconds).
    pub(crate) fn set_stream_lease(&self, lease: std::time::Duration) {
        self.stream_lease_ms.store(
            u64::try_from(lease.as_millis()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// The SQL the store's database speaks (known without taking the connection).
    pub(crate) fn dialect(&self) -> db::Dialect {
        match self.url {
            DatabaseUrl::Sqlite(_) => db::Dialect::Sqlite,
            DatabaseUrl::Postgres(_) => db::Dialect::Postgres,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub(crate) fn key_origin(&self) -> &KeyOrigin {
        &self.key_origin
    }

    /// The sub-key that authenticates compiled-component cache entries, derived from the
    /// master key (the key of this store's start; a rotation takes effect on restart).
    /// The runtime builds its cache key from it; the store never names the runtime.
    pub(crate) fn component_cache_key(&self) -> SubKey {
        self.cache_key.clone()
    }

    pub(crate) fn conn(&self) -> changes::ConnGuard<'_> {
        self.changes
            .guard(self.conn.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A number that moves whenever API keys, a connection's identity, settings, callback
    /// parameters or secret settings change, in this process (seen at once) or another
    /// (seen within [`CHANGE_CHECK`]). What is cached under one number is current while
    /// the number stays.
    pub(crate) fn change_generation(&self) -> Result<u64, StoreError> {
        self.changes.generation()
    }

    /// [`Store::change_generation`] read from the database now, for a caller that found
    /// nothing in memory and must see what another process just added.
    pub(crate) fn change_generation_now(&self) -> Result<u64, StoreError> {
        self.changes.generation_now()
    }

    pub(crate) fn sealer(&self) -> Sealer {
        self.sealer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn replace_sealer(&self, sealer: Sealer) {
        *self.sealer.write().unwrap_or_else(|p| p.into_inner()) = sealer;
    }
}

pub(crate) fn key_check_aad() -> Aad<'static> {
    Aad::new("meta", KEY_CHECK, "value")
}

pub(crate) fn key_check_plaintext() -> &'static str {
    KEY_CHECK_PLAINTEXT
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A random identifier with a readable prefix, e.g. `conn_3f2a...` (128 bits).
pub(crate) fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}
