//! A connection's lifecycle status and the bookkeeping written as it lives: status and
//! last error, refresh failures and cooldowns, and the provider account it is bound to.
//!
//! Owns: [`ConnectionStatus`], [`ProviderAccount`] and those writes to `connections`, and
//! clipping an error text before it is stored.
//! Must not: create or delete connections (`connections.rs`) or store a secret in
//! `last_error` (callers hand over redacted text).

use std::fmt;
use std::str::FromStr;

use super::db::params;

use super::{Store, StoreError, now_unix};

/// Lifecycle status of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    PendingAuthorization,
    Connected,
    ReauthRequired,
    RefreshFailing,
    Revoked,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::PendingAuthorization => "pending_authorization",
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::ReauthRequired => "reauth_required",
            ConnectionStatus::RefreshFailing => "refresh_failing",
            ConnectionStatus::Revoked => "revoked",
        }
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConnectionStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending_authorization" => ConnectionStatus::PendingAuthorization,
            "connected" => ConnectionStatus::Connected,
            "reauth_required" => ConnectionStatus::ReauthRequired,
            "refresh_failing" => ConnectionStatus::RefreshFailing,
            "revoked" => ConnectionStatus::Revoked,
            other => {
                return Err(StoreError::Invalid {
                    what: "connection status",
                    value: other.to_string(),
                    reason: "unknown status in the database",
                });
            }
        })
    }
}

/// The provider account a connection is bound to (from the connector's `postConnect` route).
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderAccount {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain: Option<String>,
}

/// Shortens an error text kept in the database and shown by `connections list`.
/// `text` as a column may hold it on either database: NUL and the other control
/// characters but tab and line breaks become U+FFFD (PostgreSQL refuses NUL in text; an
/// error a guest or a provider wrote may hold one).
pub(crate) fn storable_text(text: &str) -> std::borrow::Cow<'_, str> {
    let keep = |c: char| !c.is_control() || matches!(c, '\t' | '\n' | '\r');
    if text.chars().all(keep) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| if keep(c) { c } else { '\u{fffd}' })
            .collect(),
    )
}

pub(crate) fn clip_error(text: &str) -> String {
    const MAX: usize = 300;
    let text = &*storable_text(text);
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

impl Store {
    /// Sets the status and the last error shown to operators.
    pub(crate) fn set_connection_status(
        &self,
        connection_id: &str,
        status: ConnectionStatus,
        last_error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE connections SET status = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?1",
                params![
                    connection_id,
                    status.as_str(),
                    last_error.map(clip_error),
                    now_unix()
                ],
            )
            .map_err(StoreError::sql("updating connection status"))?;
        Ok(())
    }

    /// Records a failed refresh that does not change the connection's authorization.
    pub(crate) fn record_refresh_failure(
        &self,
        connection_id: &str,
        status: ConnectionStatus,
        error: &str,
        cooldown_until: Option<i64>,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE connections SET status = ?2, last_error = ?3, cooldown_until = ?4,
                    refresh_failures = refresh_failures + 1, updated_at = ?5 WHERE id = ?1",
                params![
                    connection_id,
                    status.as_str(),
                    clip_error(error),
                    cooldown_until,
                    now_unix()
                ],
            )
            .map_err(StoreError::sql("recording a refresh failure"))?;
        Ok(())
    }

    /// Records the provider account a connection is bound to.
    pub(crate) fn set_provider_account(
        &self,
        connection_id: &str,
        account: &ProviderAccount,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE connections SET account_id = ?2, account_name = ?3, account_domain = ?4,
                    updated_at = ?5 WHERE id = ?1",
                params![
                    connection_id,
                    account.id,
                    account.name,
                    account.domain,
                    now_unix()
                ],
            )
            .map_err(StoreError::sql("recording the provider account"))?;
        Ok(())
    }
}
