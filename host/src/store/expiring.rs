//! Tables of short-lived rows, each with an `expires_at`, that every replica adds to and
//! nothing else empties (console sign-ins, the pages authorizations return to): the
//! sweep that follows each insert.
//!
//! Owns: deleting a table's expired rows and, beyond its cap, the rows expiring first.
//! Must not: build SQL from anything but the store's own constants.

use super::StoreError;
use super::changes::ConnGuard;

/// One such table.
pub(super) struct Expiring {
    pub table: &'static str,
    /// Rows kept at most (rows expiring at the same moment as the last one kept stay too).
    pub cap: i64,
    /// What a failed sweep says it was doing.
    pub sweeping: &'static str,
}

impl Expiring {
    /// Deletes the rows expired at `now`, then all but the `cap` expiring last.
    pub(super) fn sweep(&self, conn: &ConnGuard<'_>, now: i64) -> Result<(), StoreError> {
        let table = self.table;
        conn.execute(
            &format!("DELETE FROM {table} WHERE expires_at <= ?1"),
            [now],
        )
        .map_err(StoreError::sql(self.sweeping))?;
        conn.execute(
            &format!(
                "DELETE FROM {table} WHERE expires_at <
                    (SELECT expires_at FROM {table} ORDER BY expires_at DESC LIMIT 1 OFFSET ?1)"
            ),
            [self.cap - 1],
        )
        .map_err(StoreError::sql(self.sweeping))?;
        Ok(())
    }
}
