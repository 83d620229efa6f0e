//! What the background refresher should look at: connections whose access token is about
//! to expire, or whose refresh token has been idle long enough that a provider might drop
//! it.
//!
//! Owns: the selection rule (statuses, cooldowns, the expiry window and the half-life of
//! tokens shorter-lived than it).
//! Must not: read or return a token value.

use super::{Store, StoreError, now_unix};

/// Why the background task wants to refresh a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DueReason {
    Expiring,
    Idle,
}

impl Store {
    /// Connections with a refresh token, `connected` or `refresh_failing` (a passing
    /// failure), whose access token expires before `expiring_before` (or, for a token
    /// living less than twice that window, has lived half its life), or that have not been
    /// refreshed since `idle_since`; connections in a cooldown are left out, and so is every
    /// other status (`reauth_required` needs a person).
    pub(crate) fn connections_due_for_refresh(
        &self,
        expiring_before: i64,
        idle_since: Option<i64>,
    ) -> Result<Vec<(String, DueReason)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT c.id, t.expires_at, coalesce(c.last_refresh_at, t.obtained_at),
                        t.obtained_at
                 FROM connections c JOIN tokens t ON t.connection_id = c.id
                 WHERE c.status IN ('connected', 'refresh_failing')
                   AND t.refresh_token IS NOT NULL
                   AND (c.cooldown_until IS NULL OR c.cooldown_until <= ?1)
                 ORDER BY c.name",
            )
            .map_err(StoreError::sql("finding connections due for refresh"))?;
        let now = now_unix();
        let rows: Vec<(String, Option<i64>, i64, i64)> = stmt
            .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .and_then(|rows| rows.collect())
            .map_err(StoreError::sql("finding connections due for refresh"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, expires_at, last, obtained_at)| {
                // A token shorter-lived than the window is due at half its life, not on
                // every pass.
                let due_before = |e: i64| {
                    let half_life = (e - obtained_at) / 2;
                    let window = expiring_before - now;
                    if half_life > 0 && half_life < window {
                        now + half_life
                    } else {
                        expiring_before
                    }
                };
                if expires_at.is_some_and(|e| e < due_before(e)) {
                    Some((id, DueReason::Expiring))
                } else if idle_since.is_some_and(|idle| last < idle) {
                    Some((id, DueReason::Idle))
                } else {
                    None
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::connections::tests::new_conn;
    use crate::store::db::params;
    use crate::store::tokens::tests::write;
    use crate::store::{ConnectionStatus, MasterKey};
    use std::collections::BTreeMap;

    #[test]
    fn due_for_refresh_finds_expiring_and_idle() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        let a = store.create_connection(&new_conn("a")).unwrap();
        store
            .save_authorized_tokens(&a.id, &write("at", Some("rt")), &[], &BTreeMap::new())
            .unwrap();
        let now = now_unix();
        assert!(
            store
                .connections_due_for_refresh(now, None)
                .unwrap()
                .is_empty()
        );
        // A 60-second token inside a 120-second window is due at half its life, not yet.
        assert!(
            store
                .connections_due_for_refresh(now + 120, None)
                .unwrap()
                .is_empty()
        );
        // Issued long ago, the same expiry is due.
        store
            .conn()
            .execute(
                "UPDATE tokens SET obtained_at = ?2 WHERE connection_id = ?1",
                params![a.id, now - 3600],
            )
            .unwrap();
        assert_eq!(
            store.connections_due_for_refresh(now + 120, None).unwrap(),
            vec![(a.id.clone(), DueReason::Expiring)]
        );
        assert_eq!(
            store
                .connections_due_for_refresh(now, Some(now + 10))
                .unwrap(),
            vec![(a.id.clone(), DueReason::Idle)]
        );

        // A refresh that failed for a passing reason: tried again once the cooldown is
        // over, never during it; a connection that needs a person is never tried.
        let fail_until = |cooldown_until: i64| {
            store
                .record_refresh_failure(
                    &a.id,
                    ConnectionStatus::RefreshFailing,
                    "provider unavailable",
                    Some(cooldown_until),
                )
                .unwrap()
        };
        fail_until(now + 3600);
        assert!(
            store
                .connections_due_for_refresh(now + 120, None)
                .unwrap()
                .is_empty()
        );
        fail_until(now - 1);
        assert_eq!(
            store.connections_due_for_refresh(now + 120, None).unwrap(),
            vec![(a.id.clone(), DueReason::Expiring)]
        );
        store
            .set_connection_status(&a.id, ConnectionStatus::ReauthRequired, Some("revoked"))
            .unwrap();
        assert!(
            store
                .connections_due_for_refresh(now + 120, Some(now + 10))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_app_connection_is_due_like_any_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        let config = crate::store::AppConnectionConfig {
            provider_url: "https://idp.test".into(),
            issuer_url: Some("https://idp.test".into()),
            auth_url: None,
            token_url: None,
            scopes: vec![],
            client_id: "cid".into(),
            client_secret: secrecy::SecretString::from("s".to_string()),
        };
        let app = store
            .create_app_connection("google-oauth", &config)
            .unwrap();
        let id = app.connection.id;
        store
            .save_authorized_tokens(&id, &write("at", Some("rt")), &[], &BTreeMap::new())
            .unwrap();
        let now = now_unix();
        store
            .conn()
            .execute(
                "UPDATE tokens SET obtained_at = ?2 WHERE connection_id = ?1",
                params![id, now - 3600],
            )
            .unwrap();
        assert_eq!(
            store.connections_due_for_refresh(now + 120, None).unwrap(),
            vec![(id, DueReason::Expiring)]
        );
    }
}
