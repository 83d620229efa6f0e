//! OpenID Connect discovery: fetches `<issuer>/.well-known/openid-configuration` and fills
//! the authorization, token and revocation endpoints a provider configuration leaves out.
//!
//! The document is fetched through the host's egress path (address vetting, size cap,
//! timeouts), and every endpoint it names must be https, or plain http only to a loopback
//! address the operator allowed (a local test provider); any other endpoint fails
//! discovery with an error naming the field and why.
//!
//! Owns: `discover` and `ProviderConfig::apply_discovery`.
//! Must not: accept metadata whose `issuer` differs from the one asked for, or quote the
//! provider's document in an error.

use serde::Deserialize;
use url::Url;

use super::classify::clean_text;
use super::http::OAuthHttp;
use super::provider::ProviderConfig;

/// The endpoints Keyway uses from discovery metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcEndpoints {
    pub issuer: Url,
    /// The issuer exactly as the metadata spells it (trailing slash or not): what an
    /// id_token's `iss` must equal.
    pub issuer_claim: String,
    pub authorization_endpoint: Option<Url>,
    pub token_endpoint: Url,
    pub revocation_endpoint: Option<Url>,
    /// Where the issuer publishes the keys its id_tokens are signed with.
    pub jwks_uri: Option<Url>,
}

#[derive(Deserialize)]
struct RawMetadata {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    jwks_uri: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("fetching {url} failed: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is not valid discovery metadata: {reason}")]
    Invalid { url: String, reason: String },
    #[error("discovery metadata names issuer `{found}`, expected `{expected}`")]
    IssuerMismatch { expected: String, found: String },
    #[error("discovery metadata of {issuer}: `{field}` is refused: {reason}")]
    Endpoint {
        issuer: String,
        field: &'static str,
        reason: String,
    },
}

/// The well-known URL for `issuer` (path-preserving, as OIDC Discovery 1.0 section 4 says).
pub(crate) fn well_known_url(issuer: &Url) -> Url {
    let mut url = issuer.clone();
    let path = issuer.path().trim_end_matches('/').to_string();
    url.set_path(&format!("{path}/.well-known/openid-configuration"));
    url.set_query(None);
    url
}

fn same_issuer(a: &str, b: &Url) -> bool {
    a.trim_end_matches('/') == b.as_str().trim_end_matches('/')
}

/// Parses discovery metadata fetched for `issuer`.
pub(crate) fn parse_metadata(
    issuer: &Url,
    url: &str,
    body: &[u8],
) -> Result<OidcEndpoints, DiscoveryError> {
    let invalid = |reason: String| DiscoveryError::Invalid {
        url: url.to_string(),
        reason,
    };
    // serde's message can quote the document; say only what kind of error and where.
    let raw: RawMetadata = serde_json::from_slice(body).map_err(|e| {
        invalid(format!(
            "{} error at line {}, column {}",
            match e.classify() {
                serde_json::error::Category::Io => "read",
                serde_json::error::Category::Syntax => "JSON syntax",
                serde_json::error::Category::Data => "field type",
                serde_json::error::Category::Eof => "unexpected end of input",
            },
            e.line(),
            e.column()
        ))
    })?;
    if !same_issuer(&raw.issuer, issuer) {
        return Err(DiscoveryError::IssuerMismatch {
            expected: issuer.to_string(),
            found: clean_text(&raw.issuer),
        });
    }
    let parse = |field: &str, v: Option<String>| -> Result<Option<Url>, DiscoveryError> {
        v.map(|s| Url::parse(&s).map_err(|e| invalid(format!("`{field}`: {e}"))))
            .transpose()
    };
    Ok(OidcEndpoints {
        issuer: issuer.clone(),
        issuer_claim: raw.issuer.clone(),
        authorization_endpoint: parse("authorization_endpoint", raw.authorization_endpoint)?,
        token_endpoint: parse("token_endpoint", raw.token_endpoint)?
            .ok_or_else(|| invalid("no `token_endpoint`".into()))?,
        revocation_endpoint: parse("revocation_endpoint", raw.revocation_endpoint)?,
        jwks_uri: parse("jwks_uri", raw.jwks_uri)?,
    })
}

/// Fetches the discovery document of `issuer`.
pub async fn discover(http: &OAuthHttp, issuer: &Url) -> Result<OidcEndpoints, DiscoveryError> {
    let url = well_known_url(issuer);
    let fetch = |reason: String| DiscoveryError::Fetch {
        url: url.to_string(),
        reason,
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    let (raw, _) = http
        .send(http::Method::GET, &url, headers, Vec::new())
        .await
        .map_err(|e| fetch(e.to_string()))?;
    if raw.status != 200 {
        return Err(DiscoveryError::Status {
            url: url.to_string(),
            status: raw.status,
        });
    }
    let endpoints = parse_metadata(issuer, url.as_str(), &raw.body)?;
    for (field, endpoint) in endpoints.named() {
        if let Err(reason) = http.vet_discovered_endpoint(endpoint).await {
            return Err(DiscoveryError::Endpoint {
                issuer: issuer.to_string(),
                field,
                reason,
            });
        }
    }
    Ok(endpoints)
}

impl OidcEndpoints {
    /// Each endpoint with the metadata field that named it.
    pub fn named(&self) -> Vec<(&'static str, &Url)> {
        let mut out = vec![("token_endpoint", &self.token_endpoint)];
        if let Some(u) = &self.authorization_endpoint {
            out.push(("authorization_endpoint", u));
        }
        if let Some(u) = &self.revocation_endpoint {
            out.push(("revocation_endpoint", u));
        }
        if let Some(u) = &self.jwks_uri {
            out.push(("jwks_uri", u));
        }
        out
    }
}

impl ProviderConfig {
    /// Fills endpoints that are not set explicitly; explicit ones win. The token URL is
    /// replaced only when `override_token_url` is true (it is mandatory in the struct).
    pub fn apply_discovery(&mut self, endpoints: &OidcEndpoints, override_token_url: bool) {
        if self.authorization_url.is_none() {
            self.authorization_url = endpoints.authorization_endpoint.clone();
        }
        if self.revocation_url.is_none() {
            self.revocation_url = endpoints.revocation_endpoint.clone();
        }
        if override_token_url {
            self.token_url = endpoints.token_endpoint.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_keeps_issuer_path() {
        let u = Url::parse("https://login.example.test/tenant/v2.0/").unwrap();
        assert_eq!(
            well_known_url(&u).as_str(),
            "https://login.example.test/tenant/v2.0/.well-known/openid-configuration"
        );
    }

    #[test]
    fn metadata_issuer_must_match() {
        let issuer = Url::parse("https://idp.test").unwrap();
        let ok = br#"{"issuer":"https://idp.test","authorization_endpoint":"https://idp.test/auth","token_endpoint":"https://idp.test/token"}"#;
        let e = parse_metadata(&issuer, "u", ok).unwrap();
        assert_eq!(e.token_endpoint.as_str(), "https://idp.test/token");
        // The issuer an id_token must name is the metadata's own spelling: the URL asked
        // for reads `https://idp.test/`, the metadata (and its tokens) `https://idp.test`.
        assert_eq!(e.issuer.as_str(), "https://idp.test/");
        assert_eq!(e.issuer_claim, "https://idp.test");
        let slash = br#"{"issuer":"https://idp.test/","token_endpoint":"https://idp.test/token"}"#;
        assert_eq!(
            parse_metadata(&issuer, "u", slash).unwrap().issuer_claim,
            "https://idp.test/"
        );
        assert!(e.revocation_endpoint.is_none());
        let bad = br#"{"issuer":"https://evil.test","token_endpoint":"https://idp.test/token"}"#;
        assert!(matches!(
            parse_metadata(&issuer, "u", bad),
            Err(DiscoveryError::IssuerMismatch { .. })
        ));
        let no_token = br#"{"issuer":"https://idp.test"}"#;
        assert!(parse_metadata(&issuer, "u", no_token).is_err());
    }
}
