//! OpenID Connect id_token validation for connections whose provider names an issuer:
//! the signature against the issuer's published keys (JWKS, cached per key set and fetched
//! again when a token names a key id the cache does not hold, so a rotated key is picked
//! up), then `iss`, `aud`, `exp` and `iat` (with a small leeway), the `nonce` bound to the
//! authorization request, and `azp` when present.
//!
//! Owns: [`IdTokenCheck`], [`JwksCache`], [`IdTokenError`] and the claims Keyway keeps
//! (subject and email, the connection's provider account).
//! Must not: accept an unsigned or symmetric-key token, quote a token or a claim's value
//! in an error (the subject aside, none is echoed), or fetch keys from anywhere but the
//! discovered `jwks_uri` through the host's egress path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use url::Url;

use super::http::OAuthHttp;
use crate::store::now_unix;

/// Seconds of clock difference tolerated on `exp` and `iat`.
pub const LEEWAY_SECONDS: u64 = 60;

/// The longest id_token read (a real one is a few KiB).
const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;

/// Signature algorithms accepted: the asymmetric ones. `none` and the HMAC family are
/// refused (a symmetric key would be the client secret, which tokens must not depend on).
const ACCEPTED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What an id_token must be checked against: the issuer it must name and where its keys
/// are published, with the key cache shared by every connection of the host.
#[derive(Clone)]
pub struct IdTokenCheck {
    pub issuer: String,
    pub jwks_uri: Url,
    pub keys: Arc<JwksCache>,
}

impl std::fmt::Debug for IdTokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenCheck")
            .field("issuer", &self.issuer)
            .field("jwks_uri", &self.jwks_uri.as_str())
            .finish_non_exhaustive()
    }
}

/// Why an id_token was refused. Each names the check that failed, never a token.
#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    #[error("the provider returned no id_token although `openid` was requested")]
    Missing,
    #[error("the id_token is not a well-formed JWT")]
    Malformed,
    #[error(
        "the id_token is signed with `{0}`; only asymmetric algorithms (RS*, PS*, ES*, EdDSA) are accepted"
    )]
    Algorithm(String),
    #[error("the id_token names no key id (`kid`) and the issuer publishes {0} keys")]
    NoKeyId(usize),
    #[error(
        "the id_token is signed with key `{kid}`, which the issuer's JWKS ({jwks_uri}) does not publish, even after fetching it again"
    )]
    UnknownKey { kid: String, jwks_uri: String },
    #[error("fetching the issuer's keys from {jwks_uri} failed: {reason}")]
    Keys { jwks_uri: String, reason: String },
    #[error("the id_token's signature does not verify against the issuer's key")]
    Signature,
    #[error("the id_token has expired (exp is in the past beyond the {LEEWAY_SECONDS} s leeway)")]
    Expired,
    #[error("the id_token was issued in the future (iat beyond the {LEEWAY_SECONDS} s leeway)")]
    IssuedInFuture,
    #[error("the id_token's issuer (iss) is not `{expected}`")]
    Issuer { expected: String },
    #[error("the id_token's audience (aud) does not include this client's id")]
    Audience,
    #[error("the id_token's authorized party (azp) is not this client's id")]
    AuthorizedParty,
    #[error("the id_token's nonce does not match the one sent with this authorization request")]
    Nonce,
    #[error("the refreshed id_token names another subject (sub) than the one authorized")]
    Subject,
    #[error("the id_token lacks the required claim `{0}`")]
    MissingClaim(String),
}

/// The claims Keyway keeps from a validated id_token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    pub subject: String,
    pub email: Option<String>,
}

#[derive(Deserialize)]
struct RawClaims {
    sub: Option<String>,
    iat: Option<f64>,
    nonce: Option<String>,
    azp: Option<String>,
    email: Option<String>,
}

/// The keys of each JWKS URL, kept for the process's lifetime and replaced when a token
/// names a key they lack.
#[derive(Default)]
pub struct JwksCache {
    sets: Mutex<HashMap<String, Arc<JwkSet>>>,
}

impl JwksCache {
    /// An empty cache.
    pub fn new() -> JwksCache {
        JwksCache::default()
    }

    fn cached(&self, uri: &Url) -> Option<Arc<JwkSet>> {
        self.sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uri.as_str())
            .cloned()
    }

    async fn fetch(&self, http: &OAuthHttp, uri: &Url) -> Result<Arc<JwkSet>, IdTokenError> {
        let keys_error = |reason: String| IdTokenError::Keys {
            jwks_uri: uri.to_string(),
            reason,
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        let (raw, _) = http
            .send(http::Method::GET, uri, headers, Vec::new())
            .await
            .map_err(|e| keys_error(e.to_string()))?;
        if raw.status != 200 {
            return Err(keys_error(format!("HTTP {}", raw.status)));
        }
        let set: JwkSet = serde_json::from_slice(&raw.body).map_err(|e| {
            keys_error(format!(
                "not a JWK set (JSON error at line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let set = Arc::new(set);
        self.sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uri.to_string(), set.clone());
        Ok(set)
    }

    /// The key `kid` names (or the only key, when the token names none), fetching the set
    /// again once when the cached one lacks it.
    async fn key_for(
        &self,
        http: &OAuthHttp,
        uri: &Url,
        kid: Option<&str>,
    ) -> Result<Jwk, IdTokenError> {
        let pick = |set: &JwkSet| -> Result<Option<Jwk>, IdTokenError> {
            match kid {
                Some(kid) => Ok(set.find(kid).cloned()),
                None if set.keys.len() == 1 => Ok(set.keys.first().cloned()),
                None => Err(IdTokenError::NoKeyId(set.keys.len())),
            }
        };
        if let Some(set) = self.cached(uri)
            && let Some(key) = pick(&set)?
        {
            return Ok(key);
        }
        let set = self.fetch(http, uri).await?;
        pick(&set)?.ok_or_else(|| IdTokenError::UnknownKey {
            kid: super::classify::clean_text(kid.unwrap_or_default()),
            jwks_uri: uri.to_string(),
        })
    }
}

fn map_jwt_error(kind: &ErrorKind, check: &IdTokenCheck) -> IdTokenError {
    match kind {
        ErrorKind::InvalidSignature | ErrorKind::Crypto(_) => IdTokenError::Signature,
        ErrorKind::ExpiredSignature => IdTokenError::Expired,
        ErrorKind::InvalidIssuer => IdTokenError::Issuer {
            expected: check.issuer.clone(),
        },
        ErrorKind::InvalidAudience => IdTokenError::Audience,
        ErrorKind::MissingRequiredClaim(c) => IdTokenError::MissingClaim(c.clone()),
        ErrorKind::InvalidAlgorithm => IdTokenError::Algorithm("a mismatched algorithm".into()),
        ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
            IdTokenError::Keys {
                jwks_uri: check.jwks_uri.to_string(),
                reason: "the key the token names is not usable for its algorithm".into(),
            }
        }
        _ => IdTokenError::Malformed,
    }
}

impl IdTokenCheck {
    /// Validates `id_token` issued to `client_id` for an authorization request that sent
    /// `nonce` (if it sent one), and returns the claims Keyway keeps.
    pub async fn validate(
        &self,
        http: &OAuthHttp,
        id_token: &str,
        client_id: &str,
        nonce: Option<&str>,
    ) -> Result<IdClaims, IdTokenError> {
        if id_token.len() > MAX_ID_TOKEN_BYTES {
            return Err(IdTokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| IdTokenError::Malformed)?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(IdTokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let jwk = self
            .keys
            .key_for(http, &self.jwks_uri, header.kid.as_deref())
            .await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| map_jwt_error(e.kind(), self))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<RawClaims>(id_token, &key, &validation)
            .map_err(|e| map_jwt_error(e.kind(), self))?;
        let claims = data.claims;
        let iat = claims
            .iat
            .ok_or_else(|| IdTokenError::MissingClaim("iat".into()))?;
        if iat > (now_unix() as f64) + LEEWAY_SECONDS as f64 {
            return Err(IdTokenError::IssuedInFuture);
        }
        if let Some(expected) = nonce
            && claims.nonce.as_deref() != Some(expected)
        {
            return Err(IdTokenError::Nonce);
        }
        if let Some(azp) = &claims.azp
            && azp != client_id
        {
            return Err(IdTokenError::AuthorizedParty);
        }
        let subject = claims
            .sub
            .ok_or_else(|| IdTokenError::MissingClaim("sub".into()))?;
        Ok(IdClaims {
            subject: super::classify::clean_text(&subject),
            email: claims.email.map(|e| super::classify::clean_text(&e)),
        })
    }
}

#[cfg(test)]
#[path = "id_token_tests.rs"]
mod tests;
