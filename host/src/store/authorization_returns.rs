//! Where a browser goes after the provider: the console page, or the connect link's page,
//! that an authorization was started on. Kept in the store by the authorization's state,
//! so whichever replica receives the provider's callback sends the browser back there.
//!
//! Owns: the `authorization_returns` table: the state's hash (as `oauth_states` keys it),
//! the page's path sealed (a connect link's page names its token), an expiry; at most
//! [`MAX_AUTHORIZATION_RETURNS`] at once, the ones expiring first going first; each taken
//! once.
//! Must not: store a state or a path in the clear.

use secrecy::ExposeSecret;

use super::db::{OptionalExtension, params};
use super::expiring::Expiring;
use super::states::state_hash;
use super::{Aad, Store, StoreError};

/// Returns kept at once.
pub const MAX_AUTHORIZATION_RETURNS: i64 = 1024;

const RETURNS: Expiring = Expiring {
    table: "authorization_returns",
    cap: MAX_AUTHORIZATION_RETURNS,
    sweeping: "deleting expired and surplus authorization returns",
};

fn aad(hash: &str) -> Aad<'_> {
    Aad::new("authorization_returns", hash, "return_to")
}

impl Store {
    /// Remembers that the authorization with `state` returns to `path`, until
    /// `expires_at` (unix seconds); deletes the expired returns and, beyond the cap, the
    /// ones expiring first.
    pub fn remember_authorization_return(
        &self,
        state: &str,
        path: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let hash = state_hash(state);
        let sealed = self.sealer().seal_str(aad(&hash), path);
        let conn = self.conn();
        conn.execute(
            "INSERT INTO authorization_returns (state_hash, return_to, expires_at)
             VALUES (?1, ?2, ?3)
             ON CONFLICT (state_hash) DO UPDATE
                SET return_to = excluded.return_to, expires_at = excluded.expires_at",
            params![hash, sealed, expires_at],
        )
        .map_err(StoreError::sql("storing an authorization return"))?;
        RETURNS.sweep(&conn, now)
    }

    /// Takes (and deletes) the page the authorization with `state` returns to; `None`
    /// when there is none or it expired before `now`.
    pub fn take_authorization_return(
        &self,
        state: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let hash = state_hash(state);
        let row: Option<(Vec<u8>, i64)> = self
            .conn()
            .query_row(
                "DELETE FROM authorization_returns WHERE state_hash = ?1
                 RETURNING return_to, expires_at",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(StoreError::sql("taking an authorization return"))?;
        let Some((sealed, expires_at)) = row else {
            return Ok(None);
        };
        if expires_at <= now {
            return Ok(None);
        }
        let path = self.sealer().open_str(aad(&hash), &sealed)?;
        Ok(Some(path.expose_secret().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_backend::{everything_stored, store_in as store};

    #[test]
    fn a_return_is_taken_once_by_another_handle_and_never_stored_in_the_clear() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (store(dir.path()), store(dir.path()));
        let path = "/connect/canary-link-token-in-a-return/done";
        a.remember_authorization_return("canary-state-of-a-return", path, 100, 200)
            .unwrap();
        let stored = everything_stored(&a);
        for clear in [path.as_bytes(), b"canary-state-of-a-return"] {
            assert!(
                !stored.windows(clear.len()).any(|w| w == clear),
                "{} stored in the clear",
                String::from_utf8_lossy(clear)
            );
        }
        assert_eq!(b.take_authorization_return("other", 150).unwrap(), None);
        assert_eq!(
            b.take_authorization_return("canary-state-of-a-return", 150)
                .unwrap()
                .as_deref(),
            Some(path)
        );
        assert_eq!(
            a.take_authorization_return("canary-state-of-a-return", 150)
                .unwrap(),
            None
        );
    }

    #[test]
    fn an_expired_return_is_not_taken_and_returns_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        s.remember_authorization_return("late", "/console/x", 100, 200)
            .unwrap();
        assert_eq!(s.take_authorization_return("late", 200).unwrap(), None);
        let total = MAX_AUTHORIZATION_RETURNS + 3;
        for i in 0..total {
            s.remember_authorization_return(&format!("s{i}"), "/console/x", 10, 1_000 + i)
                .unwrap();
        }
        let kept: i64 = s
            .conn()
            .query_row("SELECT COUNT(*) FROM authorization_returns", (), |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(kept, MAX_AUTHORIZATION_RETURNS);
        assert_eq!(s.take_authorization_return("s2", 20).unwrap(), None);
        assert!(s.take_authorization_return("s3", 20).unwrap().is_some());
    }
}
