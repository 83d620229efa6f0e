//! Connect links: single-use, expiring URLs that let whoever owns a provider account
//! start the authorization of one connection, without the admin key.
//!
//! Owns: the `connect_sessions` table. A link's token is stored only as its SHA-256
//! digest; a link is used at most once (the update that marks it used is conditional).
//! Must not: store or return a token, or keep a link for ever: a link is deleted a week
//! after it expired (until then it still answers "used or expired", not "unknown").

use super::db::{OptionalExtension, params};

use super::{Store, StoreError};

/// Seconds an expired link is kept, so its page still says it expired before it is
/// forgotten.
const KEEP_AFTER_EXPIRY: i64 = 7 * 24 * 3600;

/// A connect link as stored.
#[derive(Debug, Clone)]
pub struct ConnectSessionRow {
    pub connection: String,
    /// Origins that may embed or open the link's page; empty: only its own.
    pub allowed_origins: Vec<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl Store {
    /// Stores a link whose token has `digest`, and deletes the links that expired more
    /// than [`KEEP_AFTER_EXPIRY`] before `now` (links are made rarely; each one sweeps).
    pub fn create_connect_session(
        &self,
        digest: &str,
        connection: &str,
        allowed_origins: &[String],
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let origins = serde_json::to_string(allowed_origins).unwrap_or_else(|_| "[]".into());
        let conn = self.conn();
        conn.execute(
            "DELETE FROM connect_sessions WHERE expires_at < ?1",
            [now.saturating_sub(KEEP_AFTER_EXPIRY)],
        )
        .map_err(StoreError::sql("deleting long-expired connect links"))?;
        conn.execute(
            "INSERT INTO connect_sessions (token_digest, connection, allowed_origins,
                    created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![digest, connection, origins, now, expires_at],
        )
        .map_err(StoreError::sql("creating a connect link"))?;
        Ok(())
    }

    /// The link whose token has `digest`, used or not.
    pub fn connect_session(&self, digest: &str) -> Result<Option<ConnectSessionRow>, StoreError> {
        self.conn()
            .query_row(
                "SELECT connection, allowed_origins, expires_at, used_at
                 FROM connect_sessions WHERE token_digest = ?1",
                [digest],
                |r| {
                    let origins: String = r.get(1)?;
                    Ok(ConnectSessionRow {
                        connection: r.get(0)?,
                        allowed_origins: serde_json::from_str(&origins).unwrap_or_default(),
                        expires_at: r.get(2)?,
                        used_at: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(StoreError::sql("reading a connect link"))
    }

    /// Marks the link used at `now`; false when it was used already or has expired.
    pub fn use_connect_session(&self, digest: &str, now: i64) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE connect_sessions SET used_at = ?2
                 WHERE token_digest = ?1 AND used_at IS NULL AND expires_at > ?2",
                params![digest, now],
            )
            .map_err(StoreError::sql("using a connect link"))?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_used_once_and_not_after_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .create_connect_session("d1", "c1", &["https://app.example".into()], 100, 200)
            .unwrap();
        store
            .create_connect_session("d2", "c1", &[], 100, 150)
            .unwrap();
        let row = store.connect_session("d1").unwrap().unwrap();
        assert_eq!(row.allowed_origins, vec!["https://app.example"]);
        assert!(store.use_connect_session("d1", 120).unwrap());
        assert!(!store.use_connect_session("d1", 121).unwrap());
        assert_eq!(
            store.connect_session("d1").unwrap().unwrap().used_at,
            Some(120)
        );
        assert!(!store.use_connect_session("d2", 150).unwrap(), "expired");
        assert!(store.connect_session("nope").unwrap().is_none());
    }

    #[test]
    fn a_link_is_forgotten_a_week_after_it_expired() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .create_connect_session("old", "c1", &[], 0, 1_000)
            .unwrap();
        store
            .create_connect_session("recent", "c1", &[], 0, 5_000)
            .unwrap();
        // Made at the moment `old` has been expired for just over a week.
        let now = 1_000 + KEEP_AFTER_EXPIRY + 1;
        store
            .create_connect_session("new", "c1", &[], now, now + 3600)
            .unwrap();
        assert!(store.connect_session("old").unwrap().is_none(), "swept");
        assert!(
            store.connect_session("recent").unwrap().is_some(),
            "expired less than a week ago: still known"
        );
        assert!(store.connect_session("new").unwrap().is_some());
    }
}
