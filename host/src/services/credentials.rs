//! OAuth app credentials as an operator sets them, through the admin API, the console or
//! the sandbox: the client id and secret an OAuth block names by `client.credentialKey`.
//!
//! Owns: the value rules every path shares (neither value empty, over its cap, or holding
//! a control character; the key rule is the store's), and listing and deleting by key.
//! Must not: quote a client secret (or a refused value) in an error.

use secrecy::{ExposeSecret, SecretString};

use super::{ServiceError, ServiceResult, Services, views};

/// The longest client id taken.
pub(crate) const MAX_CLIENT_ID: usize = 512;
/// The longest client secret taken.
pub(crate) const MAX_CLIENT_SECRET: usize = 4096;

/// What is wrong with `value` as a client id or secret of at most `max` bytes, as a
/// predicate ("is empty"); never quoting it.
pub(crate) fn value_problem(value: &str, max: usize) -> Option<String> {
    if value.trim().is_empty() {
        Some("is empty".to_string())
    } else if value.len() > max {
        Some(format!("is too long: at most {max} bytes are taken"))
    } else if value.chars().any(char::is_control) {
        Some("holds a control character (a line break or tab)".to_string())
    } else {
        None
    }
}

impl Services {
    /// Stores OAuth app credentials under `key` (the client secret sealed); `None` for a
    /// public client, which has no secret.
    pub fn set_credentials(
        &self,
        key: &str,
        client_id: &str,
        client_secret: Option<&SecretString>,
    ) -> ServiceResult<()> {
        let refuse = |field: &str, what: &str, problem: String| ServiceError::Input {
            field: field.to_string(),
            message: format!("the {what} {problem}"),
        };
        if let Some(p) = value_problem(client_id, MAX_CLIENT_ID) {
            return Err(refuse("clientId", "client id", p));
        }
        if let Some(p) =
            client_secret.and_then(|s| value_problem(s.expose_secret(), MAX_CLIENT_SECRET))
        {
            return Err(refuse(
                "clientSecret",
                "client secret",
                format!("{p} (leave it out for a public client)"),
            ));
        }
        Ok(self.store.set_credentials(key, client_id, client_secret)?)
    }

    /// The stored OAuth app credentials, by key (client ids, never secrets; an app
    /// connection's own are not among them).
    pub(crate) fn list_credentials(&self) -> ServiceResult<Vec<views::CredentialView>> {
        let list = self.store.list_credentials()?;
        Ok(list.iter().map(views::CredentialView::from).collect())
    }

    /// Deletes the credentials stored under `key`; the store refuses an app connection's
    /// own (`app:<name>`).
    pub(crate) fn delete_credentials(&self, key: &str) -> ServiceResult<()> {
        Ok(self.store.delete_credentials(key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_refused_by_what_is_wrong_without_quoting_them() {
        assert_eq!(value_problem("abc", 8), None);
        assert_eq!(value_problem("  ", 8).as_deref(), Some("is empty"));
        let long = value_problem("canary-long", 8).unwrap_or_default();
        assert!(
            long.contains("too long") && !long.contains("canary"),
            "{long}"
        );
        assert!(
            value_problem("a\nb", 8)
                .unwrap_or_default()
                .contains("control")
        );
    }
}
