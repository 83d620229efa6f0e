//! Named leases in the database: a lock across processes and replicas with an expiry, so
//! one process refreshes a connection (or runs a stream, on PostgreSQL) at a time and a
//! crashed holder does not block the others for longer than the lease lifetime.
//!
//! Owns: the `leases` table.
//! Must not: wait or sleep (callers decide how to poll).

use super::db::{Db, DbError, params};
use super::{Store, StoreError, now_unix_ms};

/// Takes the lease `name` for `holder` on `db` for `ttl_ms`, if it is free, expired, or
/// already held by `holder` (which renews it). Returns whether the lease is now held.
pub(crate) fn acquire(db: &Db, name: &str, holder: &str, ttl_ms: i64) -> Result<bool, DbError> {
    let now = now_unix_ms();
    let changed = db.execute(
        "INSERT INTO leases (name, holder, expires_at_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT(name) DO UPDATE SET holder = excluded.holder,
            expires_at_ms = excluded.expires_at_ms
         WHERE leases.expires_at_ms <= ?4 OR leases.holder = excluded.holder",
        params![name, holder, now + ttl_ms, now],
    )?;
    Ok(changed == 1)
}

/// Releases the lease on `db` if `holder` still holds it.
pub(crate) fn release(db: &Db, name: &str, holder: &str) -> Result<(), DbError> {
    db.execute(
        "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
        params![name, holder],
    )?;
    Ok(())
}

impl Store {
    /// Takes the lease `name` for `holder` for `ttl_ms`, if it is free, expired, or already
    /// held by `holder`. Returns whether the lease is now held.
    pub(crate) fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        acquire(&self.conn(), name, holder, ttl_ms).map_err(StoreError::sql("taking a lease"))
    }

    /// Releases the lease if `holder` still holds it, and says so to the replicas
    /// listening (a refresh waiting for it looks again at once).
    pub(crate) fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let conn = self.conn();
        release(&conn, name, holder).map_err(StoreError::sql("releasing a lease"))?;
        super::tokens::announce_refresh(&conn, name)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{MasterKey, Store};

    #[test]
    fn lease_excludes_others_until_released_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let a = Store::open_with_key(dir.path(), &key).unwrap();
        let b = Store::open_with_key(dir.path(), &key).unwrap();
        assert!(a.try_acquire_lease("refresh:c1", "a", 60_000).unwrap());
        assert!(!b.try_acquire_lease("refresh:c1", "b", 60_000).unwrap());
        assert!(a.try_acquire_lease("refresh:c1", "a", 60_000).unwrap());
        b.release_lease("refresh:c1", "b").unwrap();
        assert!(!b.try_acquire_lease("refresh:c1", "b", 60_000).unwrap());
        a.release_lease("refresh:c1", "a").unwrap();
        assert!(b.try_acquire_lease("refresh:c1", "b", 0).unwrap());
        // A zero-lifetime lease is already expired: a crashed holder does not block.
        assert!(a.try_acquire_lease("refresh:c1", "a", 60_000).unwrap());
    }
}
