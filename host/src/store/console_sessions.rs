//! The console's sign-ins, kept in the store so that every replica sharing it knows each
//! one: a sign-in made on one replica holds on the next request, whichever replica it
//! reaches, and a sign-out ends it on all of them.
//!
//! Owns: the `console_sessions` table: the SHA-256 digest of each session id and when it
//! expires (unix milliseconds); at most [`MAX_CONSOLE_SESSIONS`] at once, the ones that
//! expire first going first; expired ones deleted at each sign-in.
//! Must not: store or return a session id.

use super::db::params;
use super::expiring::Expiring;
use super::{Store, StoreError};

/// Sign-ins kept at once.
pub const MAX_CONSOLE_SESSIONS: i64 = 256;

const SIGN_INS: Expiring = Expiring {
    table: "console_sessions",
    cap: MAX_CONSOLE_SESSIONS,
    sweeping: "deleting expired and surplus console sign-ins",
};

impl Store {
    /// Stores the sign-in whose id has `digest`, live until `expires_ms`; deletes the
    /// expired ones and, beyond [`MAX_CONSOLE_SESSIONS`], the ones expiring first.
    pub fn create_console_session(
        &self,
        digest: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO console_sessions (id_digest, created_at, expires_at)
             VALUES (?1, ?2, ?3)",
            params![digest, now_ms, expires_ms],
        )
        .map_err(StoreError::sql("storing a console sign-in"))?;
        SIGN_INS.sweep(&conn, now_ms)
    }

    /// Whether the sign-in whose id has `digest` is live at `now_ms`.
    pub fn console_session_live(&self, digest: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT COUNT(*) FROM console_sessions WHERE id_digest = ?1 AND expires_at > ?2",
                params![digest, now_ms],
                |r| r.get(0),
            )
            .map(|n: i64| n > 0)
            .map_err(StoreError::sql("reading a console sign-in"))
    }

    /// Ends the sign-in whose id has `digest` (nothing when there is none).
    pub fn delete_console_session(&self, digest: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "DELETE FROM console_sessions WHERE id_digest = ?1",
                [digest],
            )
            .map(|_| ())
            .map_err(StoreError::sql("ending a console sign-in"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_backend::store_in as store;

    #[test]
    fn a_sign_in_is_live_until_it_expires_or_ends_and_is_seen_by_another_handle() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (store(dir.path()), store(dir.path()));
        a.create_console_session("d1", 1_000, 2_000).unwrap();
        assert!(b.console_session_live("d1", 1_500).unwrap());
        assert!(!b.console_session_live("d1", 2_000).unwrap());
        assert!(!b.console_session_live("other", 1_500).unwrap());
        b.delete_console_session("d1").unwrap();
        assert!(!a.console_session_live("d1", 1_500).unwrap());
    }

    #[test]
    fn sign_ins_are_capped_and_the_ones_expiring_first_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let total = MAX_CONSOLE_SESSIONS + 5;
        for i in 0..total {
            s.create_console_session(&format!("d{i}"), 10, 1_000 + i)
                .unwrap();
        }
        let kept: i64 = s
            .conn()
            .query_row("SELECT COUNT(*) FROM console_sessions", (), |r| r.get(0))
            .unwrap();
        assert_eq!(kept, MAX_CONSOLE_SESSIONS);
        assert!(!s.console_session_live("d0", 20).unwrap());
        assert!(!s.console_session_live("d4", 20).unwrap());
        assert!(s.console_session_live("d5", 20).unwrap());
        assert!(
            s.console_session_live(&format!("d{}", total - 1), 20)
                .unwrap()
        );
        // An expired sign-in is deleted by the next one.
        s.create_console_session("late", 5_000, 6_000).unwrap();
        let kept: i64 = s
            .conn()
            .query_row("SELECT COUNT(*) FROM console_sessions", (), |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1);
    }
}
