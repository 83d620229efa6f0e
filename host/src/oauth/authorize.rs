//! The authorization-code flow: building the authorization URL (128-bit single-use `state`
//! bound to one connection, PKCE S256, exact redirect URI, scopes joined with the provider's
//! separator, `access_type` and extra parameters) and completing it from the callback
//! (state checked and consumed, provider `error=` reported, code exchanged, tokens and
//! granted scopes stored).
//!
//! Owns: `begin_authorization`, `CallbackParams`, `complete_authorization`.
//! Must not: log the code, the verifier or tokens, or accept a callback whose state was not
//! issued for the same connection.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl};
use rand::RngCore;
use secrecy::SecretString;
use url::Url;

use secrecy::ExposeSecret;

use super::classify::Failure;
use super::client;
use super::http::OAuthHttp;
use super::id_token::{IdClaims, IdTokenError};
use super::provider::{GrantType, ProviderConfig};
use crate::store::states::NewState;
use crate::store::{
    ClientCredentials, ConnectionRecord, ProviderAccount, Store, StoreError, TokenWrite, now_unix,
};

/// How long a started authorization stays valid.
pub(crate) const STATE_TTL: Duration = Duration::from_secs(600);

/// Errors of the authorization-code flow. None carries a code, verifier or token.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("the connector does not use the authorization_code grant")]
    NotAuthorizationCode,
    #[error("the provider configuration has no authorization URL")]
    NoAuthorizationUrl,
    #[error("extra authorize parameter `{0}` would override a parameter the flow sets itself")]
    ReservedParam(String),
    #[error("the callback has no `state` parameter")]
    MissingState,
    #[error("the callback's `state` is unknown or was already used; start the authorization again")]
    UnknownState,
    #[error("the authorization expired (states are valid for 10 minutes); start it again")]
    StateExpired,
    #[error("the callback's `state` was issued for another connection")]
    StateForOtherConnection,
    #[error("the callback repeats the parameter `{0}`")]
    DuplicateParam(String),
    #[error("the provider refused the authorization: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    ProviderDenied {
        error: String,
        description: Option<String>,
    },
    #[error("the callback has no `code` parameter")]
    MissingCode,
    #[error("the code exchange failed: {0}")]
    Exchange(Failure),
    #[error("the id_token failed validation, so no token was stored: {0}")]
    IdToken(#[from] IdTokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A started authorization: send the user to `url`.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub url: Url,
    pub redirect_uri: Url,
    pub scopes: Vec<String>,
    pub expires_at: i64,
}

/// A 128-bit random value, base64url without padding.
pub fn random_state() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Starts an authorization for `connection`; the state is stored, bound to it.
pub fn begin_authorization(
    store: &Store,
    p: &ProviderConfig,
    client_id: &str,
    connection: &ConnectionRecord,
    redirect_uri: &Url,
    scopes: Option<Vec<String>>,
) -> Result<AuthorizationRequest, AuthorizeError> {
    if p.grant_type != GrantType::AuthorizationCode {
        return Err(AuthorizeError::NotAuthorizationCode);
    }
    let auth_url = p
        .authorization_url
        .clone()
        .ok_or(AuthorizeError::NoAuthorizationUrl)?;
    if let Some((name, _)) = p
        .extra_authorize_params
        .iter()
        .find(|(k, _)| crate::types::RESERVED_AUTHORIZE_PARAMS.contains(&k.as_str()))
    {
        return Err(AuthorizeError::ReservedParam(name.clone()));
    }
    let scopes = scopes.unwrap_or_else(|| p.scopes.clone());
    let state = random_state();
    let oauth = BasicClient::new(ClientId::new(client_id.to_string()))
        .set_auth_uri(AuthUrl::from_url(auth_url))
        .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
    let state_for_url = state.clone();
    let mut request = oauth.authorize_url(move || CsrfToken::new(state_for_url));
    let mut verifier = None;
    if p.pkce {
        let (challenge, v) = PkceCodeChallenge::new_random_sha256();
        request = request.set_pkce_challenge(challenge);
        verifier = Some(SecretString::from(v.into_secret()));
    }
    let joined = p.join_scopes(&scopes);
    if !joined.is_empty() {
        request = request.add_extra_param("scope", joined);
    }
    if p.access_type_offline {
        request = request.add_extra_param("access_type", "offline");
    }
    for (k, v) in &p.extra_authorize_params {
        request = request.add_extra_param(k.as_str(), v.as_str());
    }
    // An OIDC request carries a nonce its id_token must echo, so a token minted for
    // another request cannot be passed off as this one's.
    let nonce = (p.id_token.is_some() && scopes.iter().any(|s| s == "openid")).then(random_state);
    if let Some(n) = &nonce {
        request = request.add_extra_param("nonce", n.as_str());
    }
    let (url, _) = request.url();
    let expires_at = now_unix() + STATE_TTL.as_secs() as i64;
    store.insert_state(&NewState {
        state: &state,
        connection_id: &connection.id,
        pkce_verifier: verifier.as_ref(),
        redirect_uri: redirect_uri.as_str(),
        scopes: &scopes,
        nonce: nonce.as_deref(),
        expires_at,
    })?;
    Ok(AuthorizationRequest {
        url,
        redirect_uri: redirect_uri.clone(),
        scopes,
        expires_at,
    })
}

/// Query parameters of a callback. `Debug` hides values (the code is a credential).
#[derive(Clone, Default)]
pub struct CallbackParams {
    params: BTreeMap<String, String>,
}

impl std::fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackParams")
            .field("names", &self.params.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl CallbackParams {
    /// Parses a query string (without `?`), refusing repeated parameters.
    pub fn from_query(query: &str) -> Result<Self, AuthorizeError> {
        let mut params = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            if params.insert(k.to_string(), v.to_string()).is_some() {
                return Err(AuthorizeError::DuplicateParam(k.to_string()));
            }
        }
        Ok(CallbackParams { params })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// What a completed authorization stored.
#[derive(Debug, Clone)]
pub struct AuthorizationOutcome {
    pub connection_id: String,
    pub granted_scopes: Vec<String>,
    pub missing_scopes: Vec<String>,
    pub expires_at: Option<i64>,
    pub has_refresh_token: bool,
    pub callback_params: BTreeMap<String, String>,
    /// The subject and email of a validated id_token.
    pub id_claims: Option<IdClaims>,
}

/// Completes the authorization of `expected_connection_id` from the callback parameters.
pub async fn complete_authorization(
    store: &Store,
    http: &OAuthHttp,
    p: &ProviderConfig,
    creds: &ClientCredentials,
    expected_connection_id: &str,
    callback: &CallbackParams,
) -> Result<AuthorizationOutcome, AuthorizeError> {
    let state = callback.get("state").ok_or(AuthorizeError::MissingState)?;
    let pending = store
        .take_state(state)?
        .ok_or(AuthorizeError::UnknownState)?;
    if pending.connection_id != expected_connection_id {
        return Err(AuthorizeError::StateForOtherConnection);
    }
    if pending.expires_at < now_unix() {
        return Err(AuthorizeError::StateExpired);
    }
    if let Some(error) = callback.get("error") {
        return Err(AuthorizeError::ProviderDenied {
            error: super::classify::clean_text(error),
            description: callback
                .get("error_description")
                .map(super::classify::clean_text),
        });
    }
    let code = callback.get("code").ok_or(AuthorizeError::MissingCode)?;
    let redirect_uri = Url::parse(&pending.redirect_uri).map_err(|_| StoreError::Invalid {
        what: "stored redirect URI",
        value: pending.redirect_uri.clone(),
        reason: "not a URL",
    })?;
    // With token hooks, the connector shapes the exchange; the host fills the secrets.
    let (tokens, extras) = match &p.hooks {
        Some(hooks) => {
            let grant = super::hooks::Grant::Code {
                code,
                verifier: pending.pkce_verifier.as_ref(),
                redirect_uri: &redirect_uri,
                scopes: &pending.scopes,
            };
            let hooked = super::hooks::exchange(http, p, hooks, creds, grant)
                .await
                .map_err(AuthorizeError::Exchange)?;
            (hooked.tokens, hooked.extras)
        }
        None => (
            client::exchange_code(
                http,
                p,
                creds,
                code,
                pending.pkce_verifier.as_ref(),
                &redirect_uri,
            )
            .await
            .map_err(AuthorizeError::Exchange)?,
            BTreeMap::new(),
        ),
    };
    // With an issuer, the id_token is checked before anything is stored.
    let openid = pending.scopes.iter().any(|s| s == "openid");
    let id_claims = match (&p.id_token, &tokens.id_token) {
        (Some(check), Some(id_token)) => Some(
            check
                .validate(
                    http,
                    id_token.expose_secret(),
                    &creds.client_id,
                    pending.nonce.as_deref(),
                )
                .await?,
        ),
        (Some(_), None) if openid => return Err(IdTokenError::Missing.into()),
        _ => None,
    };
    // RFC 6749 5.1: an omitted scope means the requested scopes were granted.
    let granted = tokens.scopes.clone().unwrap_or(pending.scopes);
    let mut callback_params: BTreeMap<String, String> = p
        .callback_params
        .iter()
        .filter_map(|name| {
            callback
                .get(name)
                .map(|v| (name.clone(), super::classify::clean_text(v)))
        })
        .collect();
    // Settings a token hook read from the answer are stored the same way.
    callback_params.extend(extras);
    let now = now_unix();
    let expires_at = tokens.expires_in.map(|d| now + d.as_secs() as i64);
    let write = TokenWrite {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token.clone(),
        token_type: tokens.token_type,
        expires_at,
        scopes: Some(granted.clone()),
    };
    store.save_authorized_tokens(expected_connection_id, &write, &granted, &callback_params)?;
    if let Some(claims) = &id_claims {
        store.set_provider_account(
            expected_connection_id,
            &ProviderAccount {
                id: Some(claims.subject.clone()),
                name: claims.email.clone(),
                domain: None,
            },
        )?;
    }
    Ok(AuthorizationOutcome {
        connection_id: expected_connection_id.to_string(),
        missing_scopes: p.missing_scopes(&granted),
        granted_scopes: granted,
        expires_at,
        has_refresh_token: tokens.refresh_token.is_some(),
        callback_params,
        id_claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MasterKey;
    use crate::store::connections::tests::new_conn;

    fn provider() -> ProviderConfig {
        let mut p = ProviderConfig::new(
            GrantType::AuthorizationCode,
            Url::parse("https://idp.test/token").unwrap(),
        );
        p.authorization_url = Some(Url::parse("https://idp.test/authorize?tenant=x").unwrap());
        p.scopes = vec!["read".into(), "write".into()];
        p.scope_separator = ",".into();
        p.access_type_offline = true;
        p.extra_authorize_params = vec![("prompt".into(), "consent".into())];
        p
    }

    #[test]
    fn authorization_url_carries_everything() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        let c = store.create_connection(&new_conn("a")).unwrap();
        let redirect = Url::parse("http://127.0.0.1:8123/callback").unwrap();
        let req = begin_authorization(&store, &provider(), "cid", &c, &redirect, None).unwrap();
        let q: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        assert_eq!(q["tenant"], "x");
        assert_eq!(q["client_id"], "cid");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:8123/callback");
        assert_eq!(q["scope"], "read,write");
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["code_challenge_method"], "S256");
        // 128 bits, base64url without padding
        assert_eq!(URL_SAFE_NO_PAD.decode(&q["state"]).unwrap().len(), 16);
        let pending = store.take_state(&q["state"]).unwrap().unwrap();
        assert_eq!(pending.connection_id, c.id);
        assert!(pending.pkce_verifier.is_some());
    }

    #[test]
    fn pkce_can_be_turned_off_and_reserved_params_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        let c = store.create_connection(&new_conn("a")).unwrap();
        let redirect = Url::parse("http://127.0.0.1:8123/callback").unwrap();
        let mut p = provider();
        p.pkce = false;
        let req = begin_authorization(&store, &p, "cid", &c, &redirect, None).unwrap();
        assert!(!req.url.as_str().contains("code_challenge"));
        p.extra_authorize_params
            .push(("state".into(), "fixed".into()));
        assert!(matches!(
            begin_authorization(&store, &p, "cid", &c, &redirect, None),
            Err(AuthorizeError::ReservedParam(_))
        ));
    }

    #[test]
    fn callback_params_refuse_duplicates_and_hide_values() {
        let err = CallbackParams::from_query("code=a&code=b").unwrap_err();
        assert!(err.to_string().contains("`code`"));
        let p = CallbackParams::from_query("code=secret-code&state=s").unwrap();
        assert!(!format!("{p:?}").contains("secret-code"));
    }
}
