//! Connect links: an operator asks for a single-use, expiring URL that starts the
//! authorization of one connection, to send to whoever owns the provider account.
//!
//! Owns: the rules of a link: the connection exists and authorizes in a browser (an
//! authorization-code OAuth block), a lifetime of one minute to seven days (one hour
//! unless asked), at most ten allowed origins, each an https origin (or http on a
//! loopback host); the token (`bearer.rs`: given out once, kept as a digest).
//! Must not: keep or log a token.

use secrecy::SecretString;
use url::Url;

use super::bearer::{digest, new_secret};
use super::connections::stored_auth;
use super::{ServiceError, ServiceResult, Services};
use crate::catalog::Lookup;
use crate::manifest::OAuthFlow;
use crate::store::now_unix;

const DEFAULT_TTL: u64 = 60 * 60;
const MIN_TTL: u64 = 60;
const MAX_TTL: u64 = 7 * 24 * 60 * 60;
const MAX_ORIGINS: usize = 10;

/// A link just made: the only time its token is available.
pub struct NewConnectLink {
    pub token: SecretString,
    pub expires_at: i64,
}

/// What a link's page may show.
#[derive(Debug, Clone)]
pub struct ConnectLink {
    pub connection: String,
    pub connector_name: String,
    pub allowed_origins: Vec<String>,
    pub expires_at: i64,
    pub used: bool,
}

fn invalid(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::Input {
        field: field.into(),
        message: message.into(),
    }
}

/// `text` as an origin (`scheme://host[:port]`), or why not.
fn origin(text: &str) -> Result<String, String> {
    let url = Url::parse(text).map_err(|e| format!("\"{text}\" is not a URL ({e})"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
        return Err(format!(
            "\"{text}\" must be https (or http on a loopback host)"
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "\"{text}\" must be an origin, with no path or query"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

impl Services {
    /// A link that starts the authorization of `connection`, valid for `ttl_secs`.
    pub async fn create_connect_link(
        &self,
        connection: &str,
        ttl_secs: Option<u64>,
        allowed_origins: &[String],
    ) -> ServiceResult<NewConnectLink> {
        let record = self.store.connection_by_name(connection)?;
        let loaded = self.connector(&record.connector, Lookup::KeyOrPath).await?;
        let auth = stored_auth(loaded.connector(), &record)?;
        if !auth
            .oauth
            .as_ref()
            .is_some_and(|o| o.flow == OAuthFlow::AuthorizationCode)
        {
            return Err(invalid(
                "connection",
                format!("`{connection}` has no authorization to complete in a browser"),
            ));
        }
        let ttl = ttl_secs.unwrap_or(DEFAULT_TTL);
        if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
            return Err(invalid(
                "expiresInSeconds",
                format!("must be between {MIN_TTL} and {MAX_TTL}"),
            ));
        }
        if allowed_origins.len() > MAX_ORIGINS {
            return Err(invalid(
                "allowedOrigins",
                format!("at most {MAX_ORIGINS} origins"),
            ));
        }
        let origins = allowed_origins
            .iter()
            .map(|o| origin(o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| invalid("allowedOrigins", m))?;
        let token = new_secret("kwc_");
        let now = now_unix();
        let expires_at = now + i64::try_from(ttl).unwrap_or(i64::MAX / 2);
        self.store.create_connect_session(
            &digest(&token),
            connection,
            &origins,
            now,
            expires_at,
        )?;
        Ok(NewConnectLink {
            token: SecretString::from(token),
            expires_at,
        })
    }

    /// The link `token` names, used or not, if it exists and its connection does.
    pub async fn connect_link(&self, token: &str) -> ServiceResult<Option<ConnectLink>> {
        let Some(row) = self.store.connect_session(&digest(token))? else {
            return Ok(None);
        };
        let Ok(record) = self.store.connection_by_name(&row.connection) else {
            return Ok(None);
        };
        let loaded = self.connector(&record.connector, Lookup::KeyOrPath).await?;
        Ok(Some(ConnectLink {
            connection: row.connection,
            connector_name: loaded.connector().name().to_string(),
            allowed_origins: row.allowed_origins,
            expires_at: row.expires_at,
            used: row.used_at.is_some(),
        }))
    }

    /// Uses the link `token` (once): the connection to authorize, or `None` when the
    /// link is unknown, used or expired.
    pub fn use_connect_link(&self, token: &str) -> ServiceResult<Option<String>> {
        let d = digest(token);
        let Some(row) = self.store.connect_session(&d)? else {
            return Ok(None);
        };
        Ok(self
            .store
            .use_connect_session(&d, now_unix())?
            .then_some(row.connection))
    }
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origins_are_https_or_loopback_and_bare() {
        assert_eq!(
            origin("https://app.example").unwrap(),
            "https://app.example"
        );
        assert_eq!(
            origin("https://app.example:8443/").unwrap(),
            "https://app.example:8443"
        );
        assert!(origin("http://127.0.0.1:3000").is_ok());
        assert!(origin("http://app.example").is_err());
        assert!(origin("https://app.example/path").is_err());
        assert!(origin("not a url").is_err());
    }
}
