//! Noticing that what route calls are served from has changed: API keys, a connection's
//! identity, settings, callback parameters or secret settings. Every such write, by this
//! process or any other (the CLI), bumps `change_counter.generation` by trigger
//! (migration 5); [`ChangeWatch::generation`] reads it on a connection of its own at most
//! once per [`CHANGE_CHECK`], and at once after a write of this process, so callers can
//! keep those rows in memory and reload them only when the number moves.
//!
//! Owns: the watch (its connection, the throttle) and [`ConnGuard`], the store's handle on
//! its main connection, which tells the watch when this process wrote one of those tables.
//! Must not: read anything but the counter, or hold its connection across a caller's work.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use rusqlite::hooks::Action;

use super::db::{DatabaseUrl, Db};
use super::{StoreError, open_db};

/// How stale a running process's view of another process's change may be at most: a
/// key revoked or a connection deleted by the CLI stops working in a running server
/// within this time (changes made through the server itself are seen at once).
pub const CHANGE_CHECK: Duration = Duration::from_millis(250);

/// The tables whose writes move the counter (the triggers of migration 5).
const WATCHED: [&str; 3] = ["api_keys", "connections", "connection_secrets"];

/// Watches `change_counter` for one store.
pub(crate) struct ChangeWatch {
    url: DatabaseUrl,
    /// A connection of its own, opened on first use (and again after a failed open), so
    /// a check never waits on the store's main connection (held by whatever request
    /// uses it).
    reader: Mutex<Option<Db>>,
    started: Instant,
    /// Milliseconds since `started` after which the counter is read again.
    next_check_ms: AtomicU64,
    /// The counter as last read.
    generation: AtomicU64,
    /// Bumped after every committed write of this process to a watched table, and when
    /// another process's write is announced (PostgreSQL's `keyway_changes`).
    local_writes: Arc<AtomicU64>,
    /// `local_writes` as it was when the counter was last read.
    local_seen: AtomicU64,
    /// Set by the main connection's update hook; turned into a `local_writes` bump when
    /// the writer lets go of the connection (after its commit).
    touched: Arc<AtomicBool>,
}

impl ChangeWatch {
    pub(crate) fn new(url: DatabaseUrl) -> ChangeWatch {
        ChangeWatch {
            url,
            reader: Mutex::new(None),
            started: Instant::now(),
            next_check_ms: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            local_writes: Arc::new(AtomicU64::new(0)),
            local_seen: AtomicU64::new(u64::MAX),
            touched: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Makes `conn`'s writes to a watched table known to this watch: SQLite says so from
    /// its update hook; a PostgreSQL connection notes them itself, asked when let go.
    pub(crate) fn hook(&self, conn: &Db) {
        let Some(conn) = conn.as_sqlite() else {
            return;
        };
        let touched = self.touched.clone();
        conn.update_hook(Some(move |_: Action, _db: &str, table: &str, _row: i64| {
            if WATCHED.contains(&table) {
                touched.store(true, Ordering::Release);
            }
        }));
    }

    /// What a listener bumps when another process announces a change, so the next
    /// check reads the counter at once instead of within [`CHANGE_CHECK`].
    pub(crate) fn announcements(&self) -> Arc<AtomicU64> {
        self.local_writes.clone()
    }

    /// The connection behind a store's mutex, reporting its writes when let go.
    pub(crate) fn guard<'a>(&'a self, conn: MutexGuard<'a, Db>) -> ConnGuard<'a> {
        ConnGuard { conn, watch: self }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The change generation: equal numbers mean nothing watched changed in between, as
    /// far as this process can know (another process's change shows within
    /// [`CHANGE_CHECK`], this process's at once). Costs two atomic loads and a clock read
    /// unless a check is due; one caller does the check while the others go on with the
    /// number they have, unless they must see a write of this process.
    pub(crate) fn generation(&self) -> Result<u64, StoreError> {
        self.read(false)
    }

    /// The change generation read now, whatever the interval: for a caller that found
    /// nothing and must know whether something was just added.
    pub(crate) fn generation_now(&self) -> Result<u64, StoreError> {
        self.read(true)
    }

    fn read(&self, force: bool) -> Result<u64, StoreError> {
        let now = self.elapsed_ms();
        let local = self.local_writes.load(Ordering::Acquire);
        let must_read = force || local != self.local_seen.load(Ordering::Acquire);
        if !must_read && now < self.next_check_ms.load(Ordering::Acquire) {
            return Ok(self.generation.load(Ordering::Acquire));
        }
        let mut reader = match self.reader.try_lock() {
            Ok(reader) => reader,
            // Another caller is reading the counter; one that must see a recent write
            // waits for a read that starts after it.
            Err(TryLockError::WouldBlock) if !must_read => {
                return Ok(self.generation.load(Ordering::Acquire));
            }
            Err(TryLockError::WouldBlock) => self.reader.lock().unwrap_or_else(|p| p.into_inner()),
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
        };
        // Opened here, under the lock; a failed open is tried again on the next check.
        let conn = match &mut *reader {
            Some(conn) => conn,
            empty => empty.insert(open_db(&self.url)?),
        };
        // Taken before the read: a write that lands during it is looked at next time.
        let local = self.local_writes.load(Ordering::Acquire);
        let generation: i64 = conn
            .query_row(
                "SELECT generation FROM change_counter WHERE id = 1",
                (),
                |r| r.get(0),
            )
            .map_err(StoreError::sql("reading the change counter"))?;
        let generation = u64::try_from(generation).unwrap_or_default();
        self.generation.store(generation, Ordering::Release);
        self.local_seen.store(local, Ordering::Release);
        self.next_check_ms.store(
            self.elapsed_ms()
                .saturating_add(u64::try_from(CHANGE_CHECK.as_millis()).unwrap_or(u64::MAX)),
            Ordering::Release,
        );
        Ok(generation)
    }
}

/// The store's main connection, held. When it is let go after a write to a watched
/// table (the write committed by then), the watch reads the counter on its next use.
pub(crate) struct ConnGuard<'a> {
    conn: MutexGuard<'a, Db>,
    watch: &'a ChangeWatch,
}

impl Deref for ConnGuard<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.conn
    }
}

impl DerefMut for ConnGuard<'_> {
    fn deref_mut(&mut self) -> &mut Db {
        &mut self.conn
    }
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        let pg_touched = match &*self.conn {
            Db::Postgres(conn) => conn.take_touched(),
            Db::Sqlite(_) => false,
        };
        if self.watch.touched.swap(false, Ordering::AcqRel) || pg_touched {
            self.watch.local_writes.fetch_add(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::connections::tests::new_conn;
    use crate::store::{MasterKey, Store};

    #[test]
    fn watched_writes_move_the_generation_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        let g0 = store.change_generation().unwrap();
        // Unchanged: the same number, read from memory.
        assert_eq!(store.change_generation().unwrap(), g0);

        let a = store.create_connection(&new_conn("a")).unwrap();
        let g1 = store.change_generation().unwrap();
        assert!(g1 > g0, "{g1} > {g0}");

        // A status change (what a refresh writes) is not what calls are served from.
        store
            .set_connection_status(&a.id, crate::store::ConnectionStatus::RefreshFailing, None)
            .unwrap();
        assert_eq!(store.change_generation().unwrap(), g1);

        store.create_api_key("k").unwrap();
        let g2 = store.change_generation().unwrap();
        assert!(g2 > g1);
    }

    #[test]
    fn another_process_s_write_is_seen_through_the_counter() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let server = Store::open_with_key(dir.path(), &key).unwrap();
        let g0 = server.change_generation().unwrap();
        // A second handle on the same file stands for the CLI.
        let cli = Store::open_with_key(dir.path(), &key).unwrap();
        cli.create_connection(&new_conn("from-cli")).unwrap();
        // The server is told of nothing: its next check after the interval sees it.
        std::thread::sleep(super::CHANGE_CHECK + std::time::Duration::from_millis(50));
        assert!(server.change_generation().unwrap() > g0);
    }

    #[test]
    fn a_replica_s_change_is_announced_and_read_at_once() {
        if !crate::store::test_backend::postgres() {
            return; // SQLite has no one to announce it: the interval test above covers it.
        }
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let server = Store::open_with_key(dir.path(), &key).unwrap();
        let g0 = server.change_generation().unwrap();
        let announced = server.changes.announcements();
        let before = announced.load(std::sync::atomic::Ordering::Acquire);
        let replica = Store::open_with_key(dir.path(), &key).unwrap();
        replica
            .create_connection(&new_conn("from-a-replica"))
            .unwrap();
        // The announcement arrives (however long the machine takes to deliver it)...
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while announced.load(std::sync::atomic::Ordering::Acquire) == before {
            assert!(std::time::Instant::now() < deadline, "no announcement came");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // ...and the next look reads the counter, not the interval's memory.
        assert!(server.change_generation().unwrap() > g0);
    }
}
