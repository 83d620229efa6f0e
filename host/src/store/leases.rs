//! Named leases in SQLite: a cross-process lock with an expiry, so one process refreshes a
//! connection at a time and a crashed holder does not block the others for longer than the
//! lease lifetime.
//!
//! Owns: the `leases` table.
//! Must not: wait or sleep (callers decide how to poll).

use super::db::params;

use super::{Store, StoreError, now_unix_ms};

impl Store {
    /// Takes the lease `name` for `holder` for `ttl_ms`, if it is free, expired, or already
    /// held by `holder`. Returns whether the lease is now held.
    pub(crate) fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_unix_ms();
        let changed = self
            .conn()
            .execute(
                "INSERT INTO leases (name, holder, expires_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET holder = excluded.holder,
                    expires_at_ms = excluded.expires_at_ms
                 WHERE leases.expires_at_ms <= ?4 OR leases.holder = excluded.holder",
                params![name, holder, now + ttl_ms, now],
            )
            .map_err(StoreError::sql("taking a lease"))?;
        Ok(changed == 1)
    }

    /// Releases the lease if `holder` still holds it.
    pub(crate) fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )
            .map_err(StoreError::sql("releasing a lease"))?;
        Ok(())
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
