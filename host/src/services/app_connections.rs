//! App connections: OAuth connections an operator defines once by name (provider URL,
//! optional issuer, endpoint overrides, client id and secret) and any route granted the
//! name uses. Created, listed, shown, updated and deleted here; authorized and revoked
//! through the same flows as connector connections (`connect.rs`).
//!
//! Owns: checking an app connection's input (name, URLs, which endpoints must be given)
//! and its views.
//! Must not: take a client secret from anywhere but the input (the edges read it from the
//! environment or stdin), or show one.

use url::Url;

use super::views::AppConnectionView;
use super::{ServiceError, ServiceResult, Services};
use crate::store::AppConnectionConfig;

/// An app connection as an operator gives it: the store's configuration, before
/// [`checked`] normalizes it. `Debug` hides the client secret.
pub use crate::store::AppConnectionConfig as AppConnectionInput;

fn check_url(field: &str, value: &str) -> ServiceResult<String> {
    let invalid = |message: String| ServiceError::Input {
        field: field.to_string(),
        message,
    };
    let url =
        Url::parse(value.trim()).map_err(|e| invalid(format!("`{value}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid(format!(
            "`{value}` must be an https URL (plain http only for a provider on this machine)"
        )));
    }
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(format!(
            "`{value}` must name a host and carry no user or password"
        )));
    }
    if url.fragment().is_some() {
        return Err(invalid(format!("`{value}` must not have a fragment")));
    }
    Ok(url.to_string())
}

/// The configuration to store, every field of `input` checked; names the field at fault.
pub(crate) fn checked(input: &AppConnectionInput) -> ServiceResult<AppConnectionConfig> {
    let optional =
        |field: &str, v: &Option<String>| v.as_deref().map(|u| check_url(field, u)).transpose();
    let issuer_url = optional("issuerUrl", &input.issuer_url)?;
    let auth_url = optional("authUrl", &input.auth_url)?;
    let token_url = optional("tokenUrl", &input.token_url)?;
    if issuer_url.is_none() && (auth_url.is_none() || token_url.is_none()) {
        return Err(ServiceError::Input {
            field: if auth_url.is_none() {
                "authUrl"
            } else {
                "tokenUrl"
            }
            .into(),
            message: "without an issuer URL (whose discovery names the endpoints), both \
                          the authorization and the token URL must be given"
                .into(),
        });
    }
    if input.client_id.trim().is_empty() {
        return Err(ServiceError::Input {
            field: "clientId".into(),
            message: "must not be empty".into(),
        });
    }
    for scope in &input.scopes {
        if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ServiceError::Input {
                field: "scopes".into(),
                message: format!("`{scope}` is not a scope (no spaces, not empty)"),
            });
        }
    }
    Ok(AppConnectionConfig {
        provider_url: check_url("providerUrl", &input.provider_url)?,
        issuer_url: issuer_url.map(|u| u.trim_end_matches('/').to_string()),
        auth_url,
        token_url,
        scopes: input.scopes.clone(),
        client_id: input.client_id.trim().to_string(),
        client_secret: input.client_secret.clone(),
    })
}

impl Services {
    /// Creates the app connection `name` (status `pending_authorization`).
    pub fn create_app_connection(
        &self,
        name: &str,
        input: &AppConnectionInput,
    ) -> ServiceResult<AppConnectionView> {
        let config = checked(input)?;
        let row = self.store.create_app_connection(name, &config)?;
        Ok(AppConnectionView::from(&row))
    }

    /// Replaces the app connection's configuration; tokens are kept.
    pub fn update_app_connection(
        &self,
        name: &str,
        input: &AppConnectionInput,
    ) -> ServiceResult<AppConnectionView> {
        let config = checked(input)?;
        let row = self.store.update_app_connection(name, &config)?;
        self.tokens.invalidate(&row.connection.id);
        Ok(AppConnectionView::from(&row))
    }

    /// Every app connection.
    pub fn list_app_connections(&self) -> ServiceResult<Vec<AppConnectionView>> {
        Ok(self
            .store
            .list_app_connections()?
            .iter()
            .map(AppConnectionView::from)
            .collect())
    }

    /// One app connection.
    pub fn app_connection(&self, name: &str) -> ServiceResult<AppConnectionView> {
        Ok(AppConnectionView::from(&self.store.app_connection(name)?))
    }

    /// Deletes the app connection with its tokens and credentials (not revoked at the
    /// provider: `revoke` first for that).
    pub fn delete_app_connection(&self, name: &str) -> ServiceResult<()> {
        let row = self.store.app_connection(name)?;
        self.store.delete_app_connection(name)?;
        self.tokens.invalidate(&row.connection.id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn input() -> AppConnectionInput {
        AppConnectionInput {
            provider_url: "https://accounts.example.test".into(),
            issuer_url: Some("https://accounts.example.test/".into()),
            auth_url: None,
            token_url: None,
            scopes: vec![],
            client_id: "cid".into(),
            client_secret: SecretString::from("canary-secret-1".to_string()),
        }
    }

    #[test]
    fn input_is_checked_field_by_field() {
        let ok = checked(&input()).unwrap();
        assert_eq!(
            ok.issuer_url.as_deref(),
            Some("https://accounts.example.test")
        );
        let mut bad = input();
        bad.provider_url = "accounts.example.test".into();
        assert!(
            checked(&bad)
                .unwrap_err()
                .to_string()
                .starts_with("providerUrl:")
        );
        let mut bad = input();
        bad.issuer_url = None;
        let err = checked(&bad).unwrap_err().to_string();
        assert!(
            err.starts_with("authUrl:") && err.contains("issuer"),
            "{err}"
        );
        bad.auth_url = Some("https://a.test/auth".into());
        bad.token_url = Some("ftp://a.test/token".into());
        assert!(
            checked(&bad)
                .unwrap_err()
                .to_string()
                .starts_with("tokenUrl:")
        );
        let mut bad = input();
        bad.scopes = vec!["openid email".into()];
        assert!(
            checked(&bad)
                .unwrap_err()
                .to_string()
                .starts_with("scopes:")
        );
        let mut bad = input();
        bad.client_id = " ".into();
        assert!(
            checked(&bad)
                .unwrap_err()
                .to_string()
                .starts_with("clientId:")
        );
        assert!(!format!("{:?}", input()).contains("canary-secret-1"));
    }
}
